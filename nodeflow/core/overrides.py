"""`--set NODE.PARAM=VALUE` overrides, typed by the node's declaration."""
from __future__ import annotations

from collections.abc import Iterable

from nodeflow.core.errors import Issue, UserError
from nodeflow.core.params import ParamError, coerce
from nodeflow.core.registry import Registry
from nodeflow.core.workflow import Workflow


def apply_overrides(workflow: Workflow, registry: Registry, items: Iterable[str]) -> None:
    """Set params from `Name.param=value` strings; every bad item is reported at once."""
    issues: list[Issue] = []
    for item in items:
        target, sep, text = item.partition("=")
        name, dot, param_name = target.rpartition(".")
        if not sep or not dot or not name or not param_name:
            issues.append(Issue(f"--set {item!r}: expected NODE.PARAM=VALUE"))
            continue
        node = workflow.node_by_name(name)
        if node is None:
            names = ", ".join(n.name for n in workflow.nodes.values())
            issues.append(Issue(f"--set: no node named {name!r} (nodes: {names})", file=workflow.label))
            continue
        spec = registry.get(node.type)
        param = spec.param(param_name) if spec else None
        if spec is None or param is None:
            known = ", ".join(p.name for p in spec.params) if spec else "?"
            issues.append(Issue(f"--set: unknown param (this node has: {known})",
                                node=name, field=param_name, file=workflow.label))
            continue
        try:
            node.params[param_name] = coerce(param, text, from_text=True)
        except ParamError as exc:
            issues.append(Issue(f"--set: {exc}", node=name, field=param_name, file=workflow.label))
    if issues:
        raise UserError(issues)
