"""Runs a validated workflow in topological order and emits plain events.

Events are JSON-ready dicts with an `event` key. Nodes see a RunContext for side
effects; the executor names the failing node in every error it reports.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from nodeflow.core.cache import AGAIN, RESULTS, REUSE, RUN, NodeCache, Step
from nodeflow.core.errors import NodeRunError, RunInterrupted, UntrustedCodeError, UserError
from nodeflow.core.registry import Registry
from nodeflow.core.spec import NodeSpec
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
    run_id: str = ""  # the run's id in the run index ("" when it is not recorded)

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
    """Executes one plan; `stop` is set from outside (signal, GUI) to interrupt.

    With a `cache`, every node that succeeds is recorded in it; with `steps` (NodeCache.steps())
    as well, a node unchanged since its last run is not run again (see nodeflow.core.cache):
    `node_reused` says where its outputs came from, `node_rerun` why a node runs.
    """

    def __init__(self, registry: Registry, sink: EventSink, *, device_override: str | None = None,
                 stop: threading.Event | None = None, dry_run: bool = False,
                 describe: Callable[[Any], str] | None = None, cache: NodeCache | None = None,
                 steps: Mapping[str, Step] | None = None, run_id: str = ""):
        self.registry = registry
        self.sink = sink
        self.device_override = device_override
        self.stop = stop or threading.Event()
        self.dry_run = dry_run
        self.describe = describe  # outputs -> a few words each, emitted as `node_outputs` (dry runs)
        self.cache = cache
        self.steps = steps if cache is not None else None
        self.run_id = run_id

    def _emit(self, event: str, **fields: Any) -> None:
        self.sink({"event": event, "time": time.time(), **fields})

    def run(self, workflow: Workflow, plan: Plan) -> RunResult:
        metrics: dict[str, Any] = {}
        outputs: dict[str, Mapping[str, Any]] = {}
        started = time.time()
        text = dumps(workflow)
        steps = self.steps or {}
        self._emit("run_start", workflow=workflow.label, nodes=[workflow.nodes[n].name for n in plan.order])
        for node_id in plan.order:
            node = workflow.nodes[node_id]
            spec = self.registry.get(node.type)
            assert spec is not None  # plan() guarantees it
            wiring = plan.sources.get(node_id, {}).items()
            inputs = {port: outputs[src].get(src_port) for port, (src, src_port) in wiring if src in outputs}
            results: list[dict[str, Any]] = []
            ctx = Context(node_id, node.name, workflow.base_dir, self.device_override, text, self._sink_for(results),
                          self.stop, metrics, self.dry_run, self.run_id)
            params = plan.params[node_id]
            step = steps.get(node_id)
            reused = partial(self._reused, node_id, spec, step, ctx, inputs, params, metrics) if step else None
            got, why = self._guarded(workflow, node.name, started, metrics, reused) if reused else (None, "")
            if got is not None:
                outputs[node_id] = got
                continue
            if step is not None:
                self._emit("node_rerun", node=node.name, reason=why, needed_by=list(step.needed_by))
            self._emit("node_start", node=node.name, type=node.type)
            t0 = time.time()
            result = self._guarded(workflow, node.name, started, metrics, partial(_outputs, spec, ctx, inputs, params))
            missing = [p.name for p in spec.outputs if not p.optional and p.name not in result]
            if missing:
                message = f"did not produce output(s): {', '.join(missing)}"
                self._fail(node.name, message, started, metrics)
                raise NodeRunError(node.name, message)
            outputs[node_id] = result
            if self.cache is not None:
                self.cache.record(node_id, result, results)
            if self.describe is not None:
                self._emit("node_outputs", node=node.name,
                           outputs={port: self.describe(value) for port, value in result.items()})
            self._emit("node_end", node=node.name, seconds=round(time.time() - t0, 3))
        self._emit("run_end", status="completed", metrics=metrics, seconds=round(time.time() - started, 3))
        return RunResult(outputs, metrics)

    def _guarded(self, workflow: Workflow, node: str, started: float, metrics: dict[str, Any],
                 call: Callable[[], Any]) -> Any:
        """`call()`, its failures reported as the node's (the run ends failed or interrupted)."""
        try:
            if self.stop.is_set():
                raise RunInterrupted()
            return call()
        except RunInterrupted:
            self._emit("run_end", status="interrupted", metrics=metrics, seconds=round(time.time() - started, 3))
            raise
        except UserError as exc:
            exc.issues = [replace(i, node=i.node or node, file=i.file or workflow.label) for i in exc.issues]
            exc.args = ("\n".join(str(i) for i in exc.issues),)
            self._fail(node, str(exc), started, metrics, **_details(exc))
            raise
        except Exception as exc:  # a node bug or runtime failure: name the node
            message = f"{type(exc).__name__}: {exc}"
            self._fail(node, message, started, metrics)
            raise NodeRunError(node, message) from exc

    def _reused(self, node_id: str, spec: NodeSpec, step: Step, ctx: Context, inputs: Mapping[str, Any],
                params: Mapping[str, Any], metrics: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """(outputs, "") when the node's last run stands in for this one: kept plain outputs, plus
        what its `reuse` hook loads when a node that runs needs them; else (None, why it runs)."""
        assert self.cache is not None
        if step.action == RUN:
            return None, step.reason
        if step.action == AGAIN:
            return None, "unchanged; its outputs were not kept"
        outputs, note = self.cache.outputs(node_id), self.cache.note(node_id)
        if spec.reuse is not None and step.action == REUSE:
            try:
                outputs.update(spec.reuse.load(ctx, inputs, params, note))
            except UserError as exc:
                return None, f"its last run cannot be reused: {exc.issues[0].message}"
        source = {"from": note.get("from", ""), "what": note.get("what", "outputs")} if spec.reuse else \
            {"from": "cache", "what": "results"}
        self._emit("node_reused", node=ctx.node_name, needed_by=list(step.needed_by), **source)
        for event in self.cache.results(node_id):  # its results, shown again
            if event.get("event") == "metrics":
                metrics[ctx.node_name] = event.get("metrics")
            self._emit(**{**event, "reused": True})
        return outputs, ""

    def _sink_for(self, results: list[dict[str, Any]]) -> EventSink:
        """The node's sink: with a cache, its result events are also kept in `results`."""
        if self.cache is None:
            return self.sink

        def sink(event: dict[str, Any]) -> None:
            if event["event"] in RESULTS:
                results.append({k: v for k, v in event.items() if k != "time"})
            self.sink(event)

        return sink

    def _fail(self, node: str, message: str, started: float, metrics: dict[str, Any], **details: Any) -> None:
        self._emit("error", node=node, message=message, **details)
        self._emit("run_end", status="failed", metrics=metrics, seconds=round(time.time() - started, 3))


def _details(exc: UserError) -> dict[str, Any]:
    """What a program reading the events needs to act on an error beyond its message: for code a
    checkpoint names, what would run, so the editor can ask and run again with trust_code."""
    if isinstance(exc, UntrustedCodeError):
        return {"untrusted_code": {"checkpoint": exc.checkpoint, "source": exc.source, "kind": exc.kind}}
    return {}


def _outputs(spec: NodeSpec, ctx: Context, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The node's outputs by name (run inside the executor's guard, so a bad return is the node's failure)."""
    return dict(spec.run(ctx, inputs, params))
