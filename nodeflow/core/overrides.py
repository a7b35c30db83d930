"""`--set NODE.PARAM=VALUE` overrides, typed by the node's declaration (and the same check for
params set from Python: nodeflow.load(...)["Trainer"].params["epochs"] = 3)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
        issue = set_param(workflow, registry, name, param_name, text, from_text=True, how="--set: ")
        if issue is not None:
            issues.append(issue)
    if issues:
        raise UserError(issues)


def set_param(workflow: Workflow, registry: Registry, name: str, param_name: str, value: Any,
              from_text: bool = False, how: str = "") -> Issue | None:
    """Set node `name`'s param, converted and checked by its declaration; the Issue when it cannot be.
    Text is read as --set reads it (the Python API's "3" and "0.01" are 3 and 0.01)."""
    node = workflow.node_by_name(name)
    if node is None:
        names = ", ".join(n.name for n in workflow.nodes.values())
        return Issue(f"{how}no node named {name!r} (nodes: {names})", file=workflow.label)
    spec = registry.get(node.type)
    param = spec.param(param_name) if spec else None
    if spec is None or param is None:
        known = ", ".join(p.name for p in spec.params) if spec else "?"
        return Issue(f"{how}unknown param (this node has: {known})", node=name, field=param_name,
                     file=workflow.label)
    try:
        node.params[param_name] = coerce(param, value, from_text=from_text or isinstance(value, str))
    except ParamError as exc:
        return Issue(f"{how}{exc}", node=name, field=param_name, file=workflow.label)
    return None
