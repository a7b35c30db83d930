"""What the canvas shows that the workflow it stands for does not say: checked before the core plans it.

An empty canvas has nothing to run, and a field on a node's body left red (a refused value, such
as `fast` for a learning rate) is not in the graph: Validate, Check and Run say so instead of
"ready to run" with the old value.
"""
from __future__ import annotations

from typing import Any

from nodeflow.core import Workflow
from nodeflow.core.errors import Issue
from nodeflow.gui.convert import flow_nodes
from nodeflow.gui.graph import params_of, spec_of
from nodeflow.gui.node_fields import ParamField, problem, shown

EMPTY = "the canvas is empty: add nodes from the Nodes list, or open an example (File > Examples)"


def before_planning(graph: Any, workflow: Workflow) -> list[Issue]:
    if not workflow.nodes:
        return [Issue(EMPTY)]
    return unapplied_fields(graph)


def unapplied_fields(graph: Any) -> list[Issue]:
    """Node-body fields whose text differs from the param they show (refused, so never applied)."""
    issues = []
    for node in flow_nodes(graph):
        for widget in node.widgets().values():
            if not isinstance(widget, ParamField) or widget.line.text() == shown(widget.value):
                continue
            linked = frozenset(p.name() for p in node.input_ports() if p.connected_ports())
            _, reason = problem(spec_of(node), widget.param, widget.line.text(), params_of(node), linked,
                                graph.base_dir)
            issues.append(Issue(f"{widget.line.text()!r} typed on the node is not applied"
                                + (f": {reason}" if reason else "; press Enter in the field to apply it"),
                                node=node.name(), field=widget.param.name))
    return issues
