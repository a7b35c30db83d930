"""Whole-graph validation: every issue at once, each tied to a node and field.

`plan(workflow, registry)` returns a Plan (execution order, coerced params, wiring)
or raises ValidationError listing everything that would stop the run. Nothing here
leaves a file behind (an output folder is probed with a temporary folder, removed at once).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeflow.core.errors import Issue, ValidationError
from nodeflow.core.outputs import output_problem
from nodeflow.core.params import ParamError, check_path, coerce, resolve_path
from nodeflow.core.writers import collisions
from nodeflow.core.registry import Registry
from nodeflow.core.spec import CheckInput, NodeSpec
from nodeflow.core.tasks import task_problem, tasks_at
from nodeflow.core.workflow import Node, Workflow

PATH_TYPES = ("file", "dir", "outdir", "outfile")


@dataclass(frozen=True)
class Plan:
    """What the executor needs: order, clean params and where each input comes from."""

    order: tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]]
    sources: Mapping[str, Mapping[str, tuple[str, str]]]  # dst id -> port -> (src id, port)
    warnings: tuple[Issue, ...] = ()  # not errors: what the user should know (e.g. code it runs)


def migrate_nodes(workflow: Workflow, registry: Registry) -> None:
    """Bring params saved by older node versions up to the current declaration."""
    for node in workflow.nodes.values():
        spec = registry.get(node.type)
        if spec and node.version < spec.version and spec.migrate:
            node.params = spec.migrate(dict(node.params), node.version)
            node.version = spec.version


def plan(workflow: Workflow, registry: Registry, outputs: bool = True) -> Plan:
    """`outputs=False` (dry runs, which write nothing) skips the checks of what is already on disk
    where the nodes write."""
    issues: list[Issue] = []
    file = workflow.label

    def bad(node: Node | None, field: str, message: str) -> None:
        issues.append(Issue(message, node=node.name if node else "", field=field, file=file))

    migrate_nodes(workflow, registry)
    specs: dict[str, NodeSpec] = {}
    params: dict[str, dict[str, Any]] = {}
    for node in workflow.nodes.values():
        spec = registry.get(node.type)
        if spec is None:
            bad(node, "type", registry.unknown_type(node.type))
            continue
        if node.version > spec.version:
            bad(node, "version", f"saved by a newer {spec.type} (version {node.version}; "
                                 f"this NodeFlow has {spec.version})")
            continue
        specs[node.id] = spec
        params[node.id] = _params(node, spec, workflow.base_dir, bad, outputs)
    for node_id, field, message in collisions(workflow, specs, params):
        bad(workflow.nodes[node_id], field, message)
    sources = _wiring(workflow, specs, bad)
    empty = {(nid, port) for nid, spec in specs.items() if spec.empty_outputs and nid in params
             for port in spec.empty_outputs(params[nid])}
    def gives(node_id: str, port: str) -> tuple[str, ...] | None:
        return tasks_at(node_id, port, specs.get, lambda n: params.get(n, {}),
                        lambda n, p: sources.get(n, {}).get(p))

    for node_id, spec in specs.items():
        node = workflow.nodes[node_id]
        wired = sources.get(node_id, {})
        input_tasks = {port: tasks for port, src in wired.items() if (tasks := gives(*src)) is not None}
        for port in spec.inputs:
            if port.name in wired:
                src, src_port = wired[port.name]
                problem = task_problem(input_tasks.get(port.name), spec, port.name,
                                       f"{workflow.nodes[src].name}.{src_port}")
                if problem:
                    bad(node, port.name, problem)
            if not port.optional and port.name not in wired:
                bad(node, port.name, f"required input '{port.name}' ({port.type}) is not connected")
            elif not port.optional and wired.get(port.name) in empty:
                src, src_port = wired[port.name]
                bad(node, port.name, f"connected to '{workflow.nodes[src].name}.{src_port}', which its "
                                     f"params leave empty")
        for check in (spec.check, spec.check_outputs if outputs else None):
            if check and not any(i.node == node.name for i in issues):
                linked = frozenset(p for p, source in wired.items() if source not in empty)
                given = CheckInput(params[node_id], linked, workflow.base_dir, input_tasks,
                                   {p: f"{workflow.nodes[s].name}.{sp}" for p, (s, sp) in wired.items()})
                for field, message in check(given):
                    bad(node, field, message)
    order = _topological_order(workflow, sources, bad)
    if issues:
        raise ValidationError(issues)
    warnings = tuple(Issue(spec.warning(params[node_id]), node=node.name, file=file)
                     for node_id, node in workflow.nodes.items()
                     if (spec := registry.get(node.type)) is not None and spec.warning is not None
                     and spec.warning(params[node_id]))  # '': nothing to say for these params
    return Plan(tuple(order), params, sources, warnings)


def _params(node: Node, spec: NodeSpec, base_dir: Path, bad: Any, outputs: bool) -> dict[str, Any]:
    clean, failed = spec.defaults(), set()
    for name, value in node.params.items():
        param = spec.param(name)
        if param is None:
            known = ", ".join(p.name for p in spec.params) or "none"
            bad(node, name, f"unknown param (this node has: {known})")
            continue
        try:
            clean[name] = coerce(param, value)
        except ParamError as exc:
            bad(node, name, str(exc))
            failed.add(name)
    for param in spec.params:
        if param.type in PATH_TYPES and param.name not in failed:
            try:
                reason = check_path(param, clean[param.name], base_dir)
                if not reason and outputs and param.type == "outfile" and clean[param.name]:
                    reason = output_problem(resolve_path(clean[param.name], Path.cwd()),
                                            clean.get("overwrite") is True, "set overwrite=true to replace it")
            except OSError as exc:  # a name longer than the file system allows, ...
                reason = f"not a usable path: {exc.strerror or exc}"
            if reason:
                bad(node, param.name, reason)
    return clean


def _wiring(workflow: Workflow, specs: dict[str, NodeSpec], bad: Any) -> dict[str, dict[str, tuple[str, str]]]:
    sources: dict[str, dict[str, tuple[str, str]]] = {}
    for link in workflow.links:
        src, dst = workflow.nodes.get(link.src), workflow.nodes.get(link.dst)
        if src is None or dst is None:
            missing = link.src if src is None else link.dst
            bad(dst or src, "links", f"link refers to a node id that does not exist: {missing!r}")
            continue
        if src.id not in specs or dst.id not in specs:
            if dst.id in specs and specs[dst.id].input(link.dst_port):
                sources.setdefault(dst.id, {})[link.dst_port] = (src.id, link.src_port)
            continue  # the unknown type is reported once, not again as a missing input
        problem = link_problem(specs[src.id], link.src_port, specs[dst.id], link.dst_port, src.name)
        if problem:
            on_src = specs[src.id].output(link.src_port) is None
            bad(src if on_src else dst, link.src_port if on_src else link.dst_port, problem)
            continue
        if link.dst_port in sources.get(dst.id, {}):
            bad(dst, link.dst_port, "input has more than one link")
            continue
        sources.setdefault(dst.id, {})[link.dst_port] = (src.id, link.src_port)
    return sources


def link_problem(src: NodeSpec, src_port: str, dst: NodeSpec, dst_port: str, src_name: str = "") -> str | None:
    """Why an output of `src` cannot feed an input of `dst`, or None when the link is allowed."""
    out_port, in_port = src.output(src_port), dst.input(dst_port)
    if out_port is None:
        return f"no output port named '{src_port}'"
    if in_port is None:
        return f"no input port named '{dst_port}'"
    if out_port.type != in_port.type:
        return (f"cannot connect {out_port.type} output '{src_name or src.title}.{out_port.name}' "
                f"to {in_port.type} input")
    return None


def _topological_order(workflow: Workflow, sources: Mapping[str, Mapping[str, tuple[str, str]]],
                       bad: Any) -> list[str]:
    """Kahn's algorithm, ties broken by the order nodes appear in the file."""
    deps = {nid: {s for s, _ in sources.get(nid, {}).values()} for nid in workflow.nodes}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(deps):
        ready = [n for n in deps if n not in done and deps[n] <= done]
        if not ready:
            break
        order.append(ready[0])
        done.add(ready[0])
    remaining = [n for n in deps if n not in done]
    if remaining:
        cycle = _find_cycle(remaining, deps)
        names = " -> ".join(workflow.nodes[n].name for n in cycle)
        for node_id in cycle[:-1]:
            bad(workflow.nodes[node_id], "links", f"part of a cycle: {names}")
    return order


def _find_cycle(remaining: list[str], deps: Mapping[str, set[str]]) -> list[str]:
    left = set(remaining)
    path, seen = [remaining[0]], {remaining[0]: 0}
    while True:
        nxt = sorted(deps[path[-1]] & left)[0]
        if nxt in seen:
            return path[seen[nxt]:] + [nxt]
        seen[nxt] = len(path)
        path.append(nxt)
