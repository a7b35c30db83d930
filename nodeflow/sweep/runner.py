"""`nodeflow sweep WORKFLOW`: check everything, open (or continue) the study, run trials until it
holds `--trials`, then write the results.

Each trial is `nodeflow run WORKFLOW --set NODE.FIELD=VALUE … --set Trainer.checkpoint_dir=SWEEP_DIR/trial_N`
through the run service (nodeflow.running), in this process: its checkpoints are saved and
verified as in any run, and its record lands in the run index marked with the study and trial.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from nodeflow.core import Issue, NodeRunError, RunInterrupted, UserError, apply_overrides, default_registry, \
    load_workflow
from nodeflow.core.tasks import ALL_MONITORS, better
from nodeflow.launch import child_environment, nodeflow_command
from nodeflow.sweep.space import Dim, parse_params
from nodeflow.sweep.study_db import plain_name
from nodeflow.sweep.trial import Metric, TrialRun

if TYPE_CHECKING:
    from nodeflow.running import RunOptions

EXIT_OK, EXIT_FAILED = 0, 1


class Sweep:
    """What every trial of this command shares."""

    def __init__(self, args: argparse.Namespace, workflow: str):
        self.args, self.workflow = args, workflow
        self.registry = default_registry()
        flow = load_workflow(workflow)
        self.fixed = tuple(getattr(args, "overrides", None) or ())  # --set: the same in every trial
        apply_overrides(flow, self.registry, self.fixed)
        self.dims: list[Dim] = parse_params(flow, self.registry, args.params)
        swept = {d.name for d in self.dims} & {item.partition("=")[0] for item in self.fixed}
        if swept:
            raise UserError(Issue(f"{sorted(swept)[0]} is both fixed (--set) and searched (--param); keep one",
                                  field="--set"))
        self.trainers = [n.name for n in self.registry.trainers(flow)]
        self.folders = {n.name: bool(n.params.get("checkpoint_dir", "x")) for n in flow.nodes.values()
                        if n.name in self.trainers}
        self.outputs = trial_outputs(flow, self.registry, self.trainers)
        self.metric = parse_metric(args.metric, flow, self.registry, self.trainers)
        self.direction = args.direction if args.direction != "auto" else \
            ("minimize" if better(self.metric.name) == "min" else "maximize")
        for flag, value in (("--trials", args.trials), ("--jobs", args.jobs)):
            if value < 1:
                raise UserError(Issue(f"must be 1 or more, got {value}", field=flag))
        self.name = plain_name(args.study or Path(workflow).stem)
        self.folder = Path(args.dir or Path("sweeps") / self.name)
        self.url = args.storage or f"sqlite:///{self.folder / 'study.db'}"
        self.jsonl = args.events == "jsonl"

    def run_options(self, values: dict[str, Any], folder: Path) -> RunOptions:
        """The options of `nodeflow run` for one trial: the same checks."""
        from nodeflow.running import RunOptions
        from nodeflow.sweep.space import overrides

        sets = [*self.fixed, *overrides(values)]
        sets += [f"{t}.checkpoint_dir={folder if len(self.trainers) == 1 else folder / t}"
                 for t in self.trainers if self.folders[t]]
        sets += [f"{name}={folder / relative}" for name, relative in self.outputs.items()]
        return RunOptions(overrides=tuple(sets), device=self.args.device)

    def check(self) -> None:
        """The workflow as its first trial would run it, validated in full before any trial."""
        from nodeflow.running import prepare

        first = {d.name: d.choices[0] if d.kind == "choice" else d.low for d in self.dims}
        prepare(self.workflow, self.run_options(first, self.folder / "trial_next"))  # a folder no trial has used

    def emit(self, event: str, text: str, **fields: Any) -> None:
        if self.jsonl:
            print(json.dumps({"event": event, "time": time.time(), "study": self.name, **fields}, default=str),
                  flush=True)
        elif text:
            print(text, flush=True)

    def trial_sink(self, number: int) -> Any:
        if not self.jsonl:
            return lambda event: None  # a line per trial instead (emit)
        return lambda event: print(json.dumps({**event, "trial": number}, default=str), flush=True)


def trial_outputs(flow: Any, registry: Any, trainers: list[str]) -> dict[str, str]:
    """Every other file or folder the workflow writes (`outfile`/`outdir` params, e.g. Predict's CSV),
    as NODE.FIELD -> its place inside a trial's folder, so no trial overwrites the user's own outputs."""
    found: dict[str, str] = {}
    for node in flow.nodes.values():
        spec = registry.get(node.type)
        for param in spec.params if spec else ():
            value = node.params.get(param.name, param.default)
            if param.type not in ("outfile", "outdir") or not value or \
                    (param.name == "checkpoint_dir" and node.name in trainers):
                continue
            found[f"{node.name}.{param.name}"] = Path(str(value)).name
    names = list(found.values())
    return {key: (f"{key.split('.')[0]}/{name}" if names.count(name) > 1 else name) for key, name in found.items()}


def parse_metric(text: str, workflow: Any, registry: Any, trainers: list[str]) -> Metric:
    node, _, name = text.rpartition(".")
    if not trainers:
        raise UserError(Issue("the workflow has no Trainer to sweep", field="--metric", file=workflow.label))
    if node and node not in trainers:
        raise UserError(Issue(f"no Trainer named {node!r} (Trainers: {', '.join(trainers)})", field="--metric"))
    if name not in ALL_MONITORS:
        raise UserError(Issue(f"unknown per-epoch metric {name!r} (one of: {', '.join(ALL_MONITORS)})",
                              field="--metric"))
    if not node and len(trainers) > 1:
        raise UserError(Issue(f"several Trainers: name one, e.g. {trainers[0]}.{name}", field="--metric"))
    trainer = workflow.node_by_name(node or trainers[0])
    fed = {link.dst_port for link in workflow.links if link.dst == trainer.id}
    if name.startswith("val_") and "val" not in fed:
        raise UserError(Issue(f"{name} needs validation data; the Trainer's val input is not linked",
                              node=trainer.name, field="--metric", file=workflow.label))
    return Metric(name, node)


def cmd_sweep(args: argparse.Namespace, workflow: str) -> int:
    sweep = Sweep(args, workflow)
    sweep.check()  # bad input: one line and exit 2, before any study or trial exists
    from nodeflow.sweep import study as studies

    sampler = studies.sampler(args.sampler, sweep.dims, args.seed)
    pruner = studies.pruner(args.pruner)
    studies.make_folder(sweep.url)
    turn = studies.Turn(sweep.url)
    turn.take()  # two workers starting together: one creates the database and the study
    try:
        study = open_study(sweep, studies.storage(sweep.url), sampler, pruner)
    finally:
        turn.give()
    for number in studies.fail_orphans(study):
        sweep.emit("trial_orphaned", f"trial {number}: its process died; marked failed, its params run again",
                   trial=number)
    before = studies.taken(study)
    sweep.emit("sweep_start", f"Sweep '{sweep.name}': {args.trials} trials of {workflow}, {sweep.direction} "
               f"{args.metric} ({args.sampler}, pruner {args.pruner}); {sweep.url}"
               + (f"; {before} already there" if before else ""),
               trials=args.trials, metric=args.metric, direction=sweep.direction, storage=sweep.url,
               dir=str(sweep.folder), params=[d.name for d in sweep.dims], existing=before)
    children = start_workers(args) if args.jobs > 1 else []

    def full(study: Any, trial: Any = None) -> bool:
        """Counted with the turn taken; while trials remain it is kept until the next one exists."""
        turn.take()
        if studies.taken(study) < args.trials:
            return False
        turn.give()
        if trial is not None:  # called back by optimize after a trial
            study.stop()
        return True

    def run_trial(trial: Any) -> float:
        turn.give()
        return objective(sweep, study, trial)

    try:
        if not full(study):
            study.optimize(run_trial, catch=(UserError, NodeRunError), callbacks=[full], gc_after_trial=False)
    except BaseException:  # stopped (Ctrl-C, the editor's Stop): the --jobs workers stop their trials too
        for child in children:
            child.terminate()
        raise
    finally:
        turn.give()
        for child in children:
            child.wait()
    if getattr(args, "worker", False):
        studies.close(study)
        return EXIT_OK
    from nodeflow.sweep.results import finish

    turn.take()  # another worker may be writing the same result files
    try:
        return EXIT_OK if finish(sweep, study) else EXIT_FAILED
    finally:
        turn.give()
        studies.close(study)


def open_study(sweep: Sweep, storage: Any, sampler: Any, pruner: Any) -> Any:
    """The study, created or continued; one started with other params, metric or workflow is refused."""
    import optuna

    try:
        study = optuna.create_study(study_name=sweep.name, storage=storage, sampler=sampler, pruner=pruner,
                                    direction=cast(Any, sweep.direction), load_if_exists=True)
    except ValueError as exc:
        raise UserError(Issue(f"study {sweep.name!r}: {exc}", field="--direction")) from None
    if study.direction.name.lower() != sweep.direction:
        raise UserError(Issue(f"study {sweep.name!r} {study.direction.name.lower()}s; this command would "
                              f"{sweep.direction} (use another --study)", field="--direction"))
    marks = {"workflow": str(Path(sweep.workflow).resolve()), "params": {d.name: d.text for d in sweep.dims},
             "metric": sweep.args.metric, "dir": str(sweep.folder.resolve())}
    if not study.user_attrs:
        for key, value in marks.items():
            study.set_user_attr(key, value)
    for key, flag in (("workflow", "WORKFLOW"), ("params", "--param"), ("metric", "--metric")):
        if study.user_attrs.get(key) != marks[key]:
            raise UserError(Issue(f"study {sweep.name!r} in {sweep.url} was started with {key} "
                                  f"{study.user_attrs.get(key)!r}, not {marks[key]!r}; use another --study",
                                  field=flag))
    return study


def objective(sweep: Sweep, study: Any, trial: Any) -> float:
    import optuna

    from nodeflow import running
    from nodeflow.sweep import study as studies

    folder, number = sweep.folder / f"trial_{trial.number}", trial.number
    studies.mark_worker(trial, str(folder))
    values = studies.suggest(trial, sweep.dims)
    marks = {"sweep": {"study": sweep.name, "trial": number, "storage": sweep.url}}
    hook = TrialRun(trial, sweep.metric, sweep.trial_sink(number), marks,
                    prune=not isinstance(study.pruner, optuna.pruners.NopPruner))
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    sweep.emit("trial_start", "", trial=number, params=values, checkpoint_dir=str(folder))
    started = time.time()

    def end(state: str, text: str, **fields: Any) -> None:
        notes: dict[str, Any] = {k: fields[k] for k in ("error", "pruned_after_epoch") if k in fields}
        trial.set_user_attr("outcome", {"run_id": hook.run_id, "last_checkpoint": hook.last_checkpoint, **notes})
        seconds = round(time.time() - started, 2)
        sweep.emit("trial_end", f"trial {number}: {shown} -> {text} ({seconds:.1f} s)", trial=number,
                   state=state, params=values, seconds=seconds, run_id=hook.run_id, checkpoint_dir=str(folder),
                   last_checkpoint=hook.last_checkpoint, **fields)

    try:
        plan = running.prepare(sweep.workflow, sweep.run_options(values, folder))
        running.run(plan, hook.sink, trial=hook)
    except RunInterrupted:
        if hook.pruned:
            end("pruned", f"pruned after epoch {hook.epoch} of {hook.epochs} ({sweep.metric.name} {hook.value:.4g}); "
                f"its last checkpoint: {hook.last_checkpoint or 'none'}", value=hook.value,
                pruned_after_epoch=hook.epoch)
            raise optuna.TrialPruned() from None
        studies.retry(study, trial)  # stopped by Ctrl-C or the editor: its params run again next time
        end("interrupted", "interrupted; its params run again when the sweep continues")
        raise
    except (UserError, NodeRunError) as exc:
        message = hook.error or str(exc).splitlines()[0]
        end("failed", f"failed: {message}", error=message)
        raise
    value = hook.value
    if value is None or not math.isfinite(value):
        message = f"{sweep.metric.name} was {'not reported' if value is None else value}"
        end("failed", f"failed: {message}", error=message)
        raise UserError(Issue(message, field="--metric"))
    end("complete", f"{sweep.metric.name} {value:.4g}", value=value)
    return value


def start_workers(args: argparse.Namespace) -> list[subprocess.Popen[bytes]]:
    """`--jobs N`: N-1 more processes on this study (the same command, one job each, no results)."""
    argv, skip = [], False
    for arg in args.argv:
        if skip:
            skip = False
        elif arg == "--jobs":
            skip = True
        elif not arg.startswith("--jobs="):
            argv.append(arg)
    children = []
    for k in range(1, args.jobs):
        seed = ["--seed", str(args.seed + k)] if args.seed is not None else []
        children.append(subprocess.Popen(nodeflow_command([*argv, "--jobs", "1", "--worker", *seed]),
                                         env=child_environment()))
    return children
