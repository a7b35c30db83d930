"""Edits of the canvas: add, parameter changes, copy/paste through the clipboard, delete, layout, notes.

Every edit goes through the NodeGraphQt undo stack, one undo step per user action.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from NodeGraphQt import BaseNode
from PySide6 import QtWidgets

from nodeflow.core import NodeSpec, Workflow, WorkflowFileError
from nodeflow.core.workflow import dumps, parse_workflow
from nodeflow.gui.convert import add_workflow, preflight, to_workflow, unique_id, unique_name
from nodeflow.gui.graph import ID_PROP, PARAM_PREFIX, FlowGraph, graph_type, params_of, set_tooltips, spec_of
from nodeflow.gui.param_dialog import ParamDialog
from nodeflow.gui.placement import auto_layout, move_to_free_space

BACKDROP = "nodeGraphQt.nodes.BackdropNode"
PASTE_OFFSET = (40.0, 40.0)


def adopt(graph: FlowGraph, node: BaseNode) -> None:
    """Give a node created by a gesture (drop, Tab search) a stable id, a plain unique name, tooltips."""
    spec = spec_of(node)
    if spec is None:
        return
    if not node.get_property(ID_PROP):
        node.set_property(ID_PROP, unique_id(graph, spec.type.rpartition(".")[2]), push_undo=False)
        if node.name() != spec.title and node.name().startswith(spec.title + " "):
            node.set_property("name", unique_name(graph, spec.title), push_undo=False)
    set_tooltips(node)


def add_node(graph: FlowGraph, spec: NodeSpec, pos: tuple[float, float]) -> BaseNode:
    """A new node at `pos`, or the nearest free space below or right of it."""
    graph.undo_stack().beginMacro(f"Add {spec.title}")
    node = graph.create_node(graph_type(spec), name=unique_name(graph, spec.title), pos=list(pos))
    adopt(graph, node)
    move_to_free_space(graph, [node])
    graph.undo_stack().endMacro()
    return node


def set_params(graph: FlowGraph, node: BaseNode, changes: dict[str, Any], name: str | None = None) -> None:
    """Apply param changes (and a rename) as one undo step."""
    current = params_of(node)
    changed = {k: v for k, v in changes.items() if current.get(k) != v}
    if not changed and (name is None or name == node.name()):
        return
    graph.undo_stack().beginMacro(f"Edit {node.name()}")
    for key, value in changed.items():
        node.set_property(PARAM_PREFIX + key, value)
    if name and name != node.name():
        node.set_name(name)
        set_tooltips(node)
    graph.undo_stack().endMacro()


def edit_dialog(graph: FlowGraph, node: BaseNode, dirs: tuple[Path, Path],
                parent: QtWidgets.QWidget | None) -> ParamDialog:
    spec = spec_of(node)
    taken = {n.name() for n in graph.all_nodes() if n is not node}
    linked = frozenset(p.name() for p in node.input_ports() if p.connected_ports())
    return ParamDialog(spec, node.name(), params_of(node), taken, dirs, linked, parent)


def copy_selection(graph: FlowGraph, meta: Workflow) -> int:
    """Put the selected nodes (with the links among them) on the clipboard as workflow JSON."""
    nodes = [n for n in graph.selected_nodes() if spec_of(n) is not None or n.type_ == BACKDROP]
    if not nodes:
        return 0
    fragment = to_workflow(graph, Workflow(name=meta.name), nodes)
    QtWidgets.QApplication.clipboard().setText(dumps(fragment))
    return len(fragment.nodes)


def paste(graph: FlowGraph) -> str | None:
    """Add the clipboard's nodes with new ids and names, clear of the nodes already there;
    the reason when it holds no workflow nodes."""
    text = QtWidgets.QApplication.clipboard().text()
    try:
        fragment = parse_workflow(json.loads(text), "clipboard")
    except (ValueError, RecursionError):
        return "The clipboard holds no NodeFlow nodes."
    except WorkflowFileError as exc:
        return str(exc)
    problems = preflight(graph, fragment)
    if problems:  # refused before anything is recorded: no undo step, the file stays unmodified
        return str(WorkflowFileError(problems))
    graph.undo_stack().beginMacro("Paste")
    graph.clear_selection()
    try:
        move_to_free_space(graph, add_workflow(graph, fragment, offset=PASTE_OFFSET, fresh=True))
    except WorkflowFileError as exc:
        return str(exc)
    finally:
        graph.undo_stack().endMacro()
    return None


def delete_selection(graph: FlowGraph) -> None:
    nodes = graph.selected_nodes()
    if nodes:
        graph.delete_nodes(nodes)


def add_backdrop(graph: FlowGraph, text: str = "") -> BaseNode:
    """A backdrop (comment) around the selected nodes, or at the view's centre."""
    selected = graph.selected_nodes()
    graph.undo_stack().beginMacro("Add note")
    backdrop = graph.create_node(BACKDROP, name="Note")
    backdrop.set_text(text)
    if selected:
        backdrop.wrap_nodes(selected)
    graph.undo_stack().endMacro()
    return backdrop


def tidy(graph: FlowGraph) -> None:
    """Auto layout, then frame the result."""
    auto_layout(graph)
    graph.fit_to_selection()
