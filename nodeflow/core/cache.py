"""Re-running only what changed: a workflow's cache index, and what each node does in a run.

The index is one JSON file per workflow file, `$NODEFLOW_HOME/cache/<name>-<hash of its path>.json`
(default `~/.nodeflow/cache/`). For each node it keeps the key and parts of its last successful
run (see cache_keys), its outputs that are plain JSON, the results it reported (metrics and log
events, shown again when it is not run), the identity of the files it wrote, and, for nodes that
declare `reuse` (the Trainer), a note of the files its outputs come back from. Nothing in it is
ever unpickled: a model comes back through its node's verified checkpoint. Standard library only.

In a run with reuse, each node either runs (it or something upstream changed), runs again
unchanged (a node that runs needs its outputs and they were not kept), is reused (its outputs
come from the index or its files) or is skipped (unchanged, and nothing that runs needs it).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nodeflow.core.cache_keys import identity, node_parts, what_changed, write_paths
from nodeflow.core.files import atomic_write_text
from nodeflow.core.outputs import read_json
from nodeflow.core.registry import Registry
from nodeflow.core.spec import NodeSpec
from nodeflow.core.validate import Plan
from nodeflow.core.workflow import Workflow

FORMAT = "nodeflow.cache"
RUN, AGAIN, REUSE, SKIP = "run", "again", "reuse", "skip"
RESULTS = ("metrics", "log", "result")  # a node's events kept and shown again when it is not run
MAX_RESULTS, MAX_JSON = 200, 1 << 20


@dataclass(frozen=True)
class Step:
    """What one node does in a run with reuse."""

    action: str  # RUN, AGAIN, REUSE or SKIP
    reason: str = ""  # RUN: why, in a few words ("prompt changed", "not run before")
    needed_by: tuple[str, ...] = ()  # AGAIN, REUSE: names of the nodes that need its outputs


def cache_dir() -> Path:
    return Path(os.environ.get("NODEFLOW_HOME") or Path.home() / ".nodeflow") / "cache"


def index_path(workflow_path: Path) -> Path:
    """The index of the workflow file at `workflow_path` (the file itself need not exist)."""
    resolved = Path(os.path.abspath(workflow_path))
    return cache_dir() / f"{resolved.stem}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:16]}.json"


def upstream(plan: Plan, node_id: str) -> Plan:
    """The plan cut down to `node_id` and the nodes it needs (`run --until`)."""
    needed, todo = {node_id}, [node_id]
    while todo:
        for src, _ in plan.sources.get(todo.pop(), {}).values():
            if src not in needed:
                needed.add(src)
                todo.append(src)
    return replace(plan, order=tuple(n for n in plan.order if n in needed))


def plain(value: Any) -> bool:
    """Whether `value` survives a trip through JSON unchanged, and is small."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return len(text) <= MAX_JSON and json.loads(text) == value


class NodeCache:
    """The keys of one run's nodes and the index of their last runs; records each node that succeeds."""

    def __init__(self, path: Path, workflow: Workflow, plan: Plan, registry: Registry, device: str | None):
        self.path = path
        self.workflow, self.plan, self.registry = workflow, plan, registry
        self.parts, self.keys = node_parts(workflow, plan, registry, device)
        doc = read_json(path)
        nodes = doc.get("nodes") if isinstance(doc, dict) and doc.get("format") == FORMAT else None
        self.entries: dict[str, dict[str, Any]] = {k: v for k, v in (nodes or {}).items() if isinstance(v, dict)}

    def spec(self, node_id: str) -> NodeSpec:
        spec = self.registry.get(self.workflow.nodes[node_id].type)
        assert spec is not None  # plan() guarantees it
        return spec

    def name(self, node_id: str) -> str:
        return self.workflow.nodes[node_id].name

    def sources(self, node_id: str) -> list[str]:
        return list(dict.fromkeys(src for src, _ in self.plan.sources.get(node_id, {}).values()))

    # ---- deciding ------------------------------------------------------------------------
    def stale(self, node_id: str) -> str | None:
        """Why the node's last run cannot stand for this one, or None when it can."""
        entry, spec = self.entries.get(node_id), self.spec(node_id)
        if entry is None:
            return "not run before"
        if entry.get("key") != self.keys[node_id]:
            node = self.workflow.nodes[node_id]
            names = {port: self.name(src) for port, (src, _) in self.plan.sources.get(node_id, {}).items()}
            return what_changed(entry.get("parts") or {}, self.parts[node_id], node.params, names) or "changed"
        if spec.reuse is not None:
            return spec.reuse.problem(entry.get("note") or {})
        for name, path in write_paths(spec, self.plan.params[node_id]).items():
            if identity(path) != (entry.get("written") or {}).get(name):
                return f"{self.plan.params[node_id][name]} was changed or removed since it was written"
        return None

    def steps(self) -> dict[str, Step]:
        """What each node of the plan does: changed nodes and everything downstream run; what
        they need comes from the index, from a node's files (reuse) or by running it again."""
        order = self.plan.order
        dirty: dict[str, str] = {}
        for node_id in order:
            reason = self.stale(node_id)
            upstream = [self.name(src) for src in self.sources(node_id) if src in dirty]
            if reason is None and upstream:
                reason = f"{', '.join(upstream)} runs again"
            if reason is not None:
                dirty[node_id] = reason
        needed: dict[str, list[str]] = {node_id: [] for node_id in order}
        steps: dict[str, Step] = {}
        for node_id in reversed(order):
            by = tuple(reversed(needed[node_id]))
            entry = self.entries.get(node_id) or {}
            if node_id in dirty:
                steps[node_id] = Step(RUN, dirty[node_id])
            elif not by:
                steps[node_id] = Step(SKIP)
            elif entry.get("complete"):
                steps[node_id] = Step(REUSE, needed_by=by)
            else:
                steps[node_id] = Step(REUSE if self.spec(node_id).reuse else AGAIN, needed_by=by)
            if steps[node_id].action in (RUN, AGAIN) or steps[node_id].action == REUSE and not entry.get("complete"):
                for src in self.sources(node_id):
                    needed[src].append(self.name(node_id))
        return {node_id: steps[node_id] for node_id in order}

    # ---- reading and recording -----------------------------------------------------------
    def outputs(self, node_id: str) -> dict[str, Any]:
        return dict((self.entries.get(node_id) or {}).get("outputs") or {})

    def note(self, node_id: str) -> dict[str, Any]:
        return dict((self.entries.get(node_id) or {}).get("note") or {})

    def results(self, node_id: str) -> list[dict[str, Any]]:
        return list((self.entries.get(node_id) or {}).get("results") or [])

    def record(self, node_id: str, result: Mapping[str, Any], results: list[dict[str, Any]]) -> None:
        """Keep a successful run of the node: its key, plain outputs, results and files."""
        spec, params = self.spec(node_id), self.plan.params[node_id]
        outputs = {port: value for port, value in result.items() if plain(value)}
        entry: dict[str, Any] = {"key": self.keys[node_id], "parts": self.parts[node_id], "outputs": outputs,
                                 "complete": len(outputs) == len(result), "time": time.time()}
        if spec.reuse is not None:
            entry["note"] = spec.reuse.note(params, result)
        else:
            entry["results"] = [r for r in results[:MAX_RESULTS] if plain(r)]
            entry["written"] = {name: identity(path) for name, path in write_paths(spec, params).items()}
        self.entries[node_id] = entry
        self.save(node_id)

    def save(self, node_id: str) -> None:
        """Write the node's entry into the index as it is on disk now (another run may have
        written other entries meanwhile); entries of nodes no longer in the workflow go."""
        doc = read_json(self.path)
        nodes = doc.get("nodes") if isinstance(doc, dict) and doc.get("format") == FORMAT else None
        kept = {k: v for k, v in (nodes or {}).items() if k in self.workflow.nodes and isinstance(v, dict)}
        kept[node_id] = self.entries[node_id]
        text = json.dumps({"format": FORMAT, "version": 1, "workflow": self.workflow.label, "nodes": kept},
                          indent=1, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, text + "\n")
        except OSError:
            pass  # the cache is a convenience: a run never fails for it (the next run runs more)
