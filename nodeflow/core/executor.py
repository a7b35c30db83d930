"""Runs a validated workflow in topological order and emits plain events.

Events are JSON-ready dicts with an `event` key. Nodes see a RunContext for side
effects; the executor names the failing node in every error it reports.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from nodeflow.core.errors import NodeRunError, RunInterrupted, UserError
from nodeflow.core.registry import Registry
from nodeflow.core.validate import Plan
from nodeflow.core.workflow import Workflow, dumps

EventSink = Callable[[dict[str, Any]], None]


@dataclass
class Context:
    """The RunContext handed to each node's `run`."""

    node_id: str
    node_name: str
    base_dir: Any
    device_override: str | None
    workflow_text: str  # the workflow as run (after --set), for saving beside outputs
    _sink: EventSink
    _stop: threading.Event
    _metrics: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False  # one batch through the graph, nothing written (`run --dry-run`)

    def emit(self, event: str, **fields: Any) -> None:
        self._sink({"event": event, "time": time.time(), "node": self.node_name, **fields})

    def log(self, message: str) -> None:
        self.emit("log", message=message)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def report_metrics(self, metrics: Mapping[str, Any]) -> None:
        self._metrics[self.node_name] = dict(metrics)
        self.emit("metrics", metrics=dict(metrics))


@dataclass
class RunResult:
    """What a completed run produced (failures and interrupts raise instead)."""

    outputs: dict[str, Mapping[str, Any]]
    metrics: dict[str, Any]


class Executor:
    """Executes one plan; `stop` is set from outside (signal, GUI) to interrupt."""

    def __init__(self, registry: Registry, sink: EventSink, *, device_override: str | None = None,
                 stop: threading.Event | None = None, dry_run: bool = False,
                 describe: Callable[[Any], str] | None = None):
        self.registry = registry
        self.sink = sink
        self.device_override = device_override
        self.stop = stop or threading.Event()
        self.dry_run = dry_run
        self.describe = describe  # outputs -> a few words each, emitted as `node_outputs` (dry runs)

    def _emit(self, event: str, **fields: Any) -> None:
        self.sink({"event": event, "time": time.time(), **fields})

    def run(self, workflow: Workflow, plan: Plan) -> RunResult:
        metrics: dict[str, Any] = {}
        outputs: dict[str, Mapping[str, Any]] = {}
        started = time.time()
        text = dumps(workflow)
        self._emit("run_start", workflow=workflow.label, nodes=[workflow.nodes[n].name for n in plan.order])
        for node_id in plan.order:
            node = workflow.nodes[node_id]
            spec = self.registry.get(node.type)
            assert spec is not None  # plan() guarantees it
            wiring = plan.sources.get(node_id, {}).items()
            inputs = {port: outputs[src].get(src_port) for port, (src, src_port) in wiring}
            ctx = Context(node_id, node.name, workflow.base_dir, self.device_override, text, self.sink,
                          self.stop, metrics, self.dry_run)
            self._emit("node_start", node=node.name, type=node.type)
            t0 = time.time()
            try:
                if self.stop.is_set():
                    raise RunInterrupted()
                result = dict(spec.run(ctx, inputs, plan.params[node_id]))
            except RunInterrupted:
                self._emit("run_end", status="interrupted", metrics=metrics, seconds=round(time.time() - started, 3))
                raise
            except UserError as exc:
                exc.issues = [replace(i, node=i.node or node.name, file=i.file or workflow.label) for i in exc.issues]
                exc.args = ("\n".join(str(i) for i in exc.issues),)
                self._fail(node.name, str(exc), started, metrics)
                raise
            except Exception as exc:  # a node bug or runtime failure: name the node
                message = f"{type(exc).__name__}: {exc}"
                self._fail(node.name, message, started, metrics)
                raise NodeRunError(node.name, message) from exc
            missing = [p.name for p in spec.outputs if not p.optional and p.name not in result]
            if missing:
                message = f"did not produce output(s): {', '.join(missing)}"
                self._fail(node.name, message, started, metrics)
                raise NodeRunError(node.name, message)
            outputs[node_id] = result
            if self.describe is not None:
                self._emit("node_outputs", node=node.name,
                           outputs={port: self.describe(value) for port, value in result.items()})
            self._emit("node_end", node=node.name, seconds=round(time.time() - t0, 3))
        self._emit("run_end", status="completed", metrics=metrics, seconds=round(time.time() - started, 3))
        return RunResult(outputs, metrics)

    def _fail(self, node: str, message: str, started: float, metrics: dict[str, Any]) -> None:
        self._emit("error", node=node, message=message)
        self._emit("run_end", status="failed", metrics=metrics, seconds=round(time.time() - started, 3))
