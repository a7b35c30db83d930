"""Text and Markdown descriptions of node types, derived from their declarations."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nodeflow.core.registry import Registry
from nodeflow.core.spec import NodeSpec, ParamSpec


def _default(p: ParamSpec) -> str:
    value: Any = ",".join(str(v) for v in p.default) if p.type == "ints" else p.default
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value).lower() \
        if isinstance(value, bool) else str(value)


def _number(value: float) -> str:
    """A bound as people write it: 4096, 1,000,000 and 2,147,483,647, not 1e+06 and 2.14748e+09."""
    if not float(value).is_integer() or abs(value) >= 1e15:
        return f"{value:g}"
    return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))


def _range(p: ParamSpec) -> str:
    if p.choices:
        return " | ".join(c if c else '""' for c in map(str, p.choices))
    if p.min is None and p.max is None:
        return ""
    low = "" if p.min is None else _number(p.min)
    high = "" if p.max is None else _number(p.max)
    return f"{low} … {high}"


def _ports(ports: Any) -> str:
    return ", ".join(f"{p.name} ({p.type}{', optional' if p.optional else ''})" for p in ports) or "none"


def text_listing(registry: Registry, modules: Mapping[str, str] | None = None) -> str:
    """Every node type with its ports and params; with `modules` (type -> module), where each is declared."""
    lines: list[str] = []
    for spec in registry.all():
        lines.append(f"{spec.type}  {spec.title}  [{spec.category}, v{spec.version}]")
        if modules is not None:
            lines.append(f"    declared in: {modules.get(spec.type, '?')}")
        lines.append(f"    {spec.description}")
        lines.append(f"    inputs:  {_ports(spec.inputs)}")
        lines.append(f"    outputs: {_ports(spec.outputs)}")
        for p in spec.params:
            bounds = f"  [{_range(p)}]" if _range(p) else ""
            lines.append(f"    - {p.name} ({p.type}, default {_default(p)}){bounds}: {p.help}")
        lines.append("")
    return "\n".join(lines)


def markdown_reference(registry: Registry) -> str:
    out = ["# Node reference", "",
           "Generated from the node declarations by `nodeflow nodes --markdown`; do not edit by hand.", ""]
    for category in registry.categories():
        out += [f"## {category}", ""]
        for spec in (s for s in registry.all() if s.category == category):
            out += _markdown_node(spec)
    return "\n".join(out)


def _markdown_node(spec: NodeSpec) -> list[str]:
    out = [f"### {spec.title} (`{spec.type}`, version {spec.version})", "", spec.description, "",
           f"- Inputs: {_ports(spec.inputs)}", f"- Outputs: {_ports(spec.outputs)}", ""]
    if spec.params:
        out += ["| Param | Type | Default | Allowed | Description |", "|---|---|---|---|---|"]
        for p in spec.params:
            allowed = _range(p).replace("|", "\\|")
            out.append(f"| `{p.name}` | {p.type} | `{_default(p)}` | {allowed} | {p.help} |")
        out.append("")
    return out
