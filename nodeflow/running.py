"""The run service: how a workflow file becomes a checked plan, and a plan a run.

`prepare(workflow, options)` loads and checks everything a run needs before anything starts (the
`--checkpoint-config` block, `--set`, `--resume`, `--overwrite`, `--device`, `--until`); `run(plan,
sink)` runs it: `--nproc` processes through torchrun's launcher, or the executor in this process,
with the run recorded in the run index, the reuse index kept, and Ctrl-C stopping after the
current batch. `nodeflow run`, `nodeflow validate`, the Python API (nodeflow.api) and every sweep
trial (nodeflow.sweep.runner) go this one way.
"""
from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeflow.core import (
    Executor,
    Issue,
    Registry,
    UserError,
    ValidationError,
    Workflow,
    apply_overrides,
    default_registry,
    load_workflow,
    plan,
)
from nodeflow.core.cache import AGAIN, RUN, NodeCache, index_path, upstream
from nodeflow.core.validate import Plan
from nodeflow.core.workflow import dumps
from nodeflow.runs import RunRecorder, changed_params

RANK, WORLD = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun
Sink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RunOptions:
    """What `nodeflow run` takes besides the workflow file, one field per flag."""

    overrides: tuple[str, ...] = ()  # --set NODE.PARAM=VALUE
    checkpoint_config: str | None = None  # a YAML `checkpoint:` block for every Trainer
    resume: str | None = None  # auto, best or a checkpoint file, for every Trainer
    overwrite: bool = False
    device: str | None = None
    until: str | None = None  # a node's name: run it and what it needs
    reuse: bool = False
    dry_run: bool = False
    as_path: str | None = None  # run the file as if it were saved here
    nproc: int | None = None
    argv: tuple[str, ...] = ()  # the command line each --nproc process gets


@dataclass
class RunPlan:
    """A workflow checked for one run: `steps` what the executor runs, `source` the file it came from."""

    registry: Registry
    workflow: Workflow
    steps: Plan
    options: RunOptions
    source: Path


def prepare(workflow: str | Path | Workflow, options: RunOptions) -> RunPlan:
    """The workflow file (or one loaded and changed in memory) with the options applied, checked in
    full; bad input raises UserError (one line per issue) before anything is written."""
    registry = default_registry()
    workflow = workflow if isinstance(workflow, Workflow) else load_workflow(workflow)
    source = Path(workflow.path or workflow.label)
    if options.as_path:
        workflow.path = Path(options.as_path)
    trainers = [n.name for n in registry.trainers(workflow)]
    overrides: list[str] = []  # the YAML block first, so --set and --resume win over it
    if options.checkpoint_config:
        from nodeflow.checkpoints import yaml_block

        overrides += yaml_block.overrides(Path(options.checkpoint_config), trainers)
    overrides += options.overrides
    overrides += [f"{name}.resume={options.resume}" for name in trainers if options.resume]
    overrides += [f"{name}.overwrite=true" for name in trainers if options.overwrite]
    apply_overrides(workflow, registry, overrides)
    if options.device:
        from nodeflow.training.device import device_problem

        reason = device_problem(options.device)
        if reason:
            raise UserError(Issue(reason, field="--device"))
    # under torchrun only rank 0 checks what is on disk where nodes write (it writes there) and speaks;
    # with --reuse or --until, only once it is known which nodes run (see _check_outputs)
    outputs = not (options.reuse or options.until or options.dry_run) and RANK == 0
    steps = plan(workflow, registry, outputs=outputs)
    for warning in steps.warnings if RANK == 0 else ():
        print(f"warning: {warning}", file=sys.stderr)
    if options.reuse and (options.nproc is not None or WORLD > 1) and not options.dry_run:
        raise UserError(Issue("cannot be combined with --nproc or torchrun: a reused model would have to "
                              "reach every process", field="--reuse"))
    if options.until:
        node = workflow.node_by_name(options.until) or workflow.nodes.get(options.until)
        if node is None:
            names = ", ".join(n.name for n in workflow.nodes.values())
            raise UserError(Issue(f"no node named {options.until!r} (nodes: {names})", field="--until",
                                  file=workflow.label))
        steps = upstream(steps, node.id)
    return RunPlan(registry, workflow, steps, options, source)


def run(prepared: RunPlan, sink: Sink, trial: Any = None) -> Any:
    """Run the plan: the executor's RunResult, or the launcher's exit code with --nproc. `sink` gets
    every event. `trial`: a sweep's trial (nodeflow.sweep.trial): it marks the run record, sees every
    event on its way there (`tap`) and ends the run (`stop`); the workflow's reuse index is left alone."""
    options = prepared.options
    if options.nproc is not None and WORLD == 1 and not options.dry_run:  # a dry run pushes one batch
        from nodeflow.launch import launch

        return launch(options, prepared.workflow)
    if WORLD > 1:  # started by torchrun: join the process group (nccl where the Trainer uses CUDA)
        from nodeflow.launch import requested_device
        from nodeflow.training import distributed

        distributed.start(requested_device(options, prepared.workflow))
    try:
        return _execute(prepared, sink, trial)
    finally:
        if WORLD > 1:
            distributed.stop()


def _execute(prepared: RunPlan, sink: Sink, trial: Any) -> Any:
    options, workflow, registry = prepared.options, prepared.workflow, prepared.registry
    where = Path(options.as_path) if options.as_path else prepared.source
    describe: Any = None
    run_id = ""
    if RANK != 0:  # torchrun's other ranks: rank 0 prints and records
        sink = _quiet
    elif options.dry_run:  # not a run: nothing recorded
        from nodeflow.training.dry_run import describe
    else:
        text = dumps(workflow)
        saved = where if where.is_file() else prepared.source
        sink = RunRecorder(sink, {"workflow": str(where.resolve()), "workflow_text": text,
                                  "workflow_hash": hashlib.sha256(text.encode()).hexdigest(),
                                  "changed": changed_params(dumps(_as_saved(saved, registry)), text),
                                  **(trial.marks if trial else {})})
        run_id = sink.record["id"]
        sink = trial.tap(sink) if trial else sink
    cache, steps = None, None
    if RANK == 0 and not options.dry_run and trial is None:  # every run records what it did; --reuse reads it
        cache = NodeCache(index_path(where), workflow, prepared.steps, registry, options.device)
        steps = cache.steps() if options.reuse else None
        if options.reuse or options.until:
            _check_outputs(workflow, registry, {workflow.nodes[n].name for n in prepared.steps.order
                                                if steps is None or steps[n].action in (RUN, AGAIN)})
    stop = trial.stop if trial else threading.Event()
    executor = Executor(registry, sink, device_override=options.device, stop=stop, dry_run=options.dry_run,
                        describe=describe, cache=cache, steps=steps, run_id=run_id)
    with _stop_on_signals(stop):
        return executor.run(workflow, prepared.steps)


def _quiet(event: dict[str, Any]) -> None:
    """The event sink of torchrun's ranks other than 0."""


def _check_outputs(workflow: Workflow, registry: Registry, running: set[str]) -> None:
    """What is on disk where the nodes that run write (another run's files, foreign files):
    nodes that are reused or left out write nothing, so what lies there is no problem for them."""
    try:
        plan(workflow, registry)
    except ValidationError as exc:
        issues = [i for i in exc.issues if not i.node or i.node in running]
        if issues:
            raise ValidationError(issues) from None


def _as_saved(path: Path, registry: Registry) -> Workflow:
    """The workflow file before --set, its params brought up to the current node versions."""
    from nodeflow.core.validate import migrate_nodes

    workflow = load_workflow(path)
    migrate_nodes(workflow, registry)
    return workflow


class _stop_on_signals:
    """First Ctrl-C (or SIGTERM) asks the run to stop after the current batch; a second forces it."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        again = " (press Ctrl-C again to force)" if signum == signal.SIGINT else ""  # SIGTERM: the editor's Stop
        if RANK == 0:
            print(f"\nStopping after the current batch{again}...", file=sys.stderr, flush=True)

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():  # only there can handlers be set
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handler)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
