"""Collisions between the paths a graph's nodes write, found before anything runs.

Two nodes writing one file, two Trainers sharing one checkpoint folder, or an output
file that lands on a name a Trainer writes in its folder (a checkpoint, the manifest,
history/, the log): each would destroy another node's work in the same run.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from nodeflow.core.params import resolve_path
from nodeflow.core.spec import NodeSpec
from nodeflow.core.workflow import Workflow

Target = tuple[str, str, Path, tuple[str, ...]]  # node id, param, resolved path, names written inside


def _targets(specs: Mapping[str, NodeSpec], params: Mapping[str, Mapping[str, Any]], kind: str) -> list[Target]:
    found = []
    for node_id, spec in specs.items():
        for param in spec.params:
            value = params.get(node_id, {}).get(param.name)
            if param.type == kind and isinstance(value, str) and value and "{" not in value:
                found.append((node_id, param.name, resolve_path(value, Path.cwd()).resolve(), param.writes))
    return found


def collisions(workflow: Workflow, specs: Mapping[str, NodeSpec],
               params: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """(node id, field, reason) for every write that would land on another node's output."""
    name = {nid: node.name for nid, node in workflow.nodes.items()}
    files, folders = _targets(specs, params, "outfile"), _targets(specs, params, "outdir")
    for group in (files, folders):
        for i, (nid, field, path, _) in enumerate(group):
            for other, other_field, other_path, _ in group[:i]:
                if path == other_path:
                    yield nid, field, f"writes {path}, as {name[other]}.{other_field} does"
    for nid, field, path, _ in files:
        for folder_id, folder_field, folder, writes in folders:
            if folder in path.parents:
                first = path.relative_to(folder).parts[0]
                if any(fnmatch(first, pattern) for pattern in writes):
                    yield nid, field, (f"{path} is where {name[folder_id]} writes its {first} "
                                       f"({name[folder_id]}.{folder_field} = {folder})")
