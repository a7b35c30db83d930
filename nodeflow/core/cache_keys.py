"""What a node's cache key covers, and the key itself.

A node's parts: its type and code (declared version, the SHA-256 of the module that declares
its `run`, NodeFlow's version), its params, the identity of every file and folder it reads
(`file`/`dir` params and the files a `reads` hook names, such as a pretrained model's weights:
size and modification time of each file, and a SHA-256 of small files),
where it writes (`outfile`/`outdir` params, resolved), the run's device override, and the keys
of the nodes its inputs come from. Two runs with equal keys would compute the same outputs.
Standard library only.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from nodeflow.version import __version__
from nodeflow.core.files import sha256_of
from nodeflow.core.params import resolve_path
from nodeflow.core.registry import Registry
from nodeflow.core.spec import NodeSpec
from nodeflow.core.validate import Plan
from nodeflow.core.workflow import Workflow

HASHED_BELOW = 16 << 20  # files smaller than this are also hashed: an edit within one mtime tick still shows
READS, WRITES = ("file", "dir"), ("outfile", "outdir")


def key_of(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@lru_cache(maxsize=None)
def _source_hash(path: str) -> str:
    try:
        return sha256_of(Path(path))
    except OSError:
        return ""


def code_version(spec: NodeSpec) -> str:
    """The node type's declared version, the hash of the module declaring its `run`, NodeFlow's version."""
    module = sys.modules.get(getattr(spec.run, "__module__", "") or "")
    source = getattr(module, "__file__", None)
    return f"{spec.type}@{spec.version}:{_source_hash(source) if source else ''}:nodeflow {__version__}"


def identity(path: Path) -> dict[str, Any] | None:
    """Size, mtime and (small files) SHA-256 of a file; for a folder, a hash of every file's
    relative path, size and mtime. None when nothing is there."""
    try:
        if path.is_file():
            stat = path.stat()
            found: dict[str, Any] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            if stat.st_size < HASHED_BELOW:
                found["sha256"] = sha256_of(path)
            return found
        if path.is_dir():
            listing = hashlib.sha256()
            count = 0
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    stat = os.stat(os.path.join(root, name))
                    rel = os.path.relpath(os.path.join(root, name), path)
                    listing.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
                    count += 1
            return {"files": count, "listing": listing.hexdigest()}
    except OSError:
        return None
    return None


def read_paths(spec: NodeSpec, params: Mapping[str, Any], base_dir: Path) -> dict[str, Path]:
    """The files and folders the node reads, by param name (relative to the workflow file), and
    those its `reads` hook names (a Pretrained node's model files)."""
    found = {p.name: resolve_path(params[p.name], base_dir) for p in spec.params
             if p.type in READS and params.get(p.name)}
    return found | (spec.reads(params, base_dir) if spec.reads else {})


def write_paths(spec: NodeSpec, params: Mapping[str, Any]) -> dict[str, Path]:
    """Where the node writes, by param name (relative to the current folder)."""
    return {p.name: resolve_path(params[p.name], Path.cwd()).absolute() for p in spec.params
            if p.type in WRITES and params.get(p.name)}


def node_parts(workflow: Workflow, plan: Plan, registry: Registry,
               device: str | None) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(parts, key) of every node in the plan, in its order."""
    parts: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    for node_id in plan.order:
        spec = registry.get(workflow.nodes[node_id].type)
        assert spec is not None  # plan() guarantees it
        params = plan.params[node_id]
        parts[node_id] = {
            "code": code_version(spec),
            "params": json.loads(json.dumps(params, sort_keys=True, default=str)),
            "files": {name: identity(path) for name, path in read_paths(spec, params, workflow.base_dir).items()},
            "writes": {name: str(path) for name, path in write_paths(spec, params).items()},
            "device": device or "",
            "inputs": {port: f"{keys[src]}.{src_port}" for port, (src, src_port)
                       in sorted(plan.sources.get(node_id, {}).items())},
        }
        keys[node_id] = key_of(parts[node_id])
    return parts, keys


def what_changed(old: Mapping[str, Any], new: Mapping[str, Any], params: Mapping[str, Any],
                 sources: Mapping[str, str]) -> str | None:
    """Why parts `new` differ from `old`, in a few words ("lr changed"), or None when they do not.
    `params`: the node's params as written (for file names); `sources`: input port -> the name of
    the node it comes from."""
    if old.get("code") != new["code"]:
        return "its code changed (a newer NodeFlow or node version)"
    changed = sorted(k for k in set(old.get("params", {})) | set(new["params"])
                     if old.get("params", {}).get(k) != new["params"].get(k))
    if changed:
        return f"{', '.join(changed)} changed"
    files = [str(params.get(k, k)) for k, v in new["files"].items() if old.get("files", {}).get(k) != v]
    if files:
        return f"{', '.join(files)} changed on disk"
    if old.get("writes") != new["writes"]:
        return "it writes to another folder now (run from another current folder)"
    if old.get("device") != new["device"]:
        return "the device changed"
    before = old.get("inputs", {})
    ports = sorted(p for p in set(before) | set(new["inputs"]) if before.get(p) != new["inputs"].get(p))
    if ports:
        return f"{', '.join(dict.fromkeys(sources.get(p, p) for p in ports))} changed"
    return None
