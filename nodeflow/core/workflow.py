"""Workflow files (format `nodeflow.workflow`, version 1): the model, loading and saving.

Nodes are keyed by a stable id and carry `type`, `version`, a unique human `name`
and `params`; links join node ids by port name; `layout` belongs to the editor and
is carried through untouched. Saving what was loaded gives the same bytes.
"""
from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodeflow.core.errors import Issue, WorkflowFileError
from nodeflow.core.files import atomic_write_text

if TYPE_CHECKING:
    from nodeflow.core.registry import Registry

FORMAT = "nodeflow.workflow"
FORMAT_VERSION = 1
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Node:
    id: str
    type: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    version: int = 1


@dataclass(frozen=True)
class Link:
    src: str
    src_port: str
    dst: str
    dst_port: str


@dataclass
class Workflow:
    nodes: dict[str, Node] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    name: str = ""
    description: str = ""
    layout: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def node_by_name(self, name: str) -> Node | None:
        return next((n for n in self.nodes.values() if n.name == name), None)

    @property
    def base_dir(self) -> Path:
        """Folder that relative input paths resolve against."""
        return self.path.parent if self.path else Path.cwd()

    @property
    def label(self) -> str:
        return str(self.path) if self.path else self.name or "<workflow>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "nodes": {
                n.id: {"type": n.type, "version": n.version, "name": n.name, "params": n.params}
                for n in self.nodes.values()
            },
            "links": [
                {"from": {"node": k.src, "port": k.src_port}, "to": {"node": k.dst, "port": k.dst_port}}
                for k in self.links
            ],
            "layout": self.layout,
        }


def dumps(workflow: Workflow) -> str:
    return json.dumps(workflow.to_dict(), indent=2, ensure_ascii=False) + "\n"


INPUT_PATH_TYPES = ("file", "dir")  # resolve against the workflow file's folder (outputs: the cwd)


def save_workflow(workflow: Workflow, path: str | Path, registry: Registry | None = None) -> dict[str, dict[str, str]]:
    """Write atomically: a crash mid-save never leaves a half-written workflow.

    With `registry`, a save into another folder keeps every relative input path (file and dir
    params) pointing at the same file: each is rewritten to start from the new folder (relative when
    the file lies inside it, absolute otherwise), in the file and in `workflow`, and the changes,
    {node id: {param: new value}}, are returned. Nothing changes when the save fails."""
    path = Path(path)
    changes = rebased_paths(workflow, registry, path.parent) if registry is not None else {}
    saved = copy.deepcopy(workflow)
    for node_id, params in changes.items():
        saved.nodes[node_id].params.update(params)
    atomic_write_text(path, dumps(saved))
    for node_id, params in changes.items():
        workflow.nodes[node_id].params.update(params)
    workflow.path = path
    return changes


def rebased_paths(workflow: Workflow, registry: Registry, new_dir: Path) -> dict[str, dict[str, str]]:
    """The relative input paths of `workflow` rewritten to resolve from `new_dir` to the same place."""
    old_dir = Path(os.path.abspath(workflow.base_dir))
    new_dir = Path(os.path.abspath(new_dir))
    if old_dir == new_dir:
        return {}
    changes: dict[str, dict[str, str]] = {}
    for node in workflow.nodes.values():
        spec = registry.get(node.type) if node.type in registry else None
        for param in spec.params if spec else ():
            value = node.params.get(param.name)
            if param.type not in INPUT_PATH_TYPES or not isinstance(value, str) or not value \
                    or Path(os.path.expanduser(value)).is_absolute():
                continue
            target = Path(os.path.normpath(old_dir / value))
            moved = os.path.relpath(target, new_dir) if target.is_relative_to(new_dir) else str(target)
            if moved != value:
                changes.setdefault(node.id, {})[param.name] = moved
    return changes


def load_workflow(path: str | Path) -> Workflow:
    """Read and parse a workflow file; structural problems raise WorkflowFileError."""
    path = Path(path)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkflowFileError(Issue("file not found", file=label)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowFileError(Issue(f"cannot read file: {exc}", file=label)) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise WorkflowFileError(Issue(message, file=label)) from None
    except RecursionError:
        raise WorkflowFileError(Issue("not valid JSON: nested too deeply", file=label)) from None
    except ValueError as exc:  # a number of more digits than Python converts (4300)
        raise WorkflowFileError(Issue(f"not valid JSON: {str(exc).split(';')[0]}", file=label)) from None
    workflow = parse_workflow(doc, label)
    workflow.path = path
    return workflow


def parse_workflow(doc: Any, label: str = "<workflow>") -> Workflow:
    """Build a Workflow from a decoded JSON document, collecting every structural issue."""
    issues: list[Issue] = []

    def bad(message: str, node: str = "", field_: str = "") -> None:
        issues.append(Issue(message, node=node, field=field_, file=label))

    if not isinstance(doc, dict):
        raise WorkflowFileError(Issue("not a workflow: expected a JSON object", file=label))
    if doc.get("format") != FORMAT:
        raise WorkflowFileError(Issue(f"not a workflow: 'format' must be {FORMAT!r}", file=label))
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise WorkflowFileError(Issue("'version' must be a positive integer", file=label))
    if version > FORMAT_VERSION:
        message = f"written by a newer NodeFlow (format version {version}; this one reads up to {FORMAT_VERSION})"
        raise WorkflowFileError(Issue(message, file=label))
    workflow = Workflow(
        name=_text(doc.get("name", ""), "name", bad),
        description=_text(doc.get("description", ""), "description", bad),
    )
    layout = doc.get("layout", {})
    workflow.layout = layout if isinstance(layout, dict) else {}
    _parse_nodes(doc.get("nodes"), workflow, bad)
    _parse_links(doc.get("links", []), workflow, bad)
    if issues:
        raise WorkflowFileError(issues)
    return workflow


def _text(value: Any, what: str, bad: Any) -> str:
    if isinstance(value, str):
        return value
    bad(f"'{what}' must be text")
    return ""


def _parse_nodes(nodes: Any, workflow: Workflow, bad: Any) -> None:
    if not isinstance(nodes, dict):
        bad("'nodes' must be an object keyed by node id")
        return
    names: set[str] = set()
    for node_id, entry in nodes.items():
        if not ID_PATTERN.match(node_id):
            bad(f"node id {node_id[:40]!r} must be 1-64 letters, digits, '_' or '-'")
            continue
        if not isinstance(entry, dict):
            bad("node entry must be an object", node=node_id)
            continue
        type_id, name = entry.get("type"), entry.get("name", node_id)
        params, version = entry.get("params", {}), entry.get("version", 1)
        if not isinstance(type_id, str) or not type_id:
            bad("missing 'type'", node=node_id)
            continue
        if not isinstance(name, str) or not name.strip():
            bad("'name' must be non-empty text", node=node_id)
            continue
        if name in names:
            bad("name is used by another node; names must be unique", node=name)
        if not isinstance(params, dict):
            bad("'params' must be an object", node=name)
            continue
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            bad("'version' must be a positive integer", node=name)
            continue
        names.add(name)
        workflow.nodes[node_id] = Node(node_id, type_id, name, dict(params), version)


def _parse_links(links: Any, workflow: Workflow, bad: Any) -> None:
    if not isinstance(links, list):
        bad("'links' must be a list")
        return
    for index, entry in enumerate(links):
        ends: list[Any] = [entry.get(k) if isinstance(entry, dict) else None for k in ("from", "to")]
        if not all(isinstance(e, dict) and isinstance(e.get("node"), str)
                   and isinstance(e.get("port"), str) for e in ends):
            bad(f"link #{index + 1} must look like "
                '{"from": {"node": ID, "port": NAME}, "to": {"node": ID, "port": NAME}}')
            continue
        src, dst = ends
        workflow.links.append(Link(src["node"], src["port"], dst["node"], dst["port"]))
