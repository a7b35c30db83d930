"""Headless commands: `run`, `validate`, `nodes`, `devices`, `generate`, `ckpt`, `runs`, `sweep`.

Argument parsing and exit codes only.

Exit codes: 0 done, 1 failure during the run, 2 invalid input, 130 interrupted.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from contextlib import nullcontext, redirect_stdout
from pathlib import Path
from typing import Any

from nodeflow import cli_ckpt, runs_commands
from nodeflow.sweep import commands as sweep_commands
from nodeflow.core import (
    Executor,
    Issue,
    NodeRunError,
    NodeSpec,
    RunInterrupted,
    UserError,
    ValidationError,
    apply_overrides,
    default_registry,
    load_workflow,
    plan,
)
from nodeflow.core.cache import AGAIN, RUN, NodeCache, index_path, upstream
from nodeflow.core.reference import markdown_reference, text_listing
from nodeflow.core.printable import PrintableStream
from nodeflow.core.workflow import dumps
from nodeflow.runs import RunRecorder, changed_params

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130
RANK, WORLD = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun


def _quiet(event: str, **fields: Any) -> None:
    """The event sink of torchrun's ranks other than 0."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nodeflow", description="Run NodeFlow workflows headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a workflow file")
    run.add_argument("workflow")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                     help="override a param, e.g. --set Trainer.epochs=3 (repeatable)")
    run.add_argument("--device", help="device for every Trainer: auto, cpu, cuda, cuda:N, mps")
    run.add_argument("--resume", metavar="auto|best|PATH",
                     help="continue every Trainer from a checkpoint: auto = newest valid one in its checkpoint_dir")
    run.add_argument("--events", choices=("jsonl",), help="print events as JSON lines instead of text")
    run.add_argument("--nproc", type=int, metavar="N",
                     help="train with N processes (DistributedDataParallel), started by torchrun's launcher; "
                          "the same as `torchrun --nproc-per-node N -m nodeflow run WORKFLOW`")
    run.add_argument("--as", dest="as_path", metavar="PATH",
                     help="run the file as if it were saved at PATH: relative inputs resolve from PATH's folder "
                          "and the run is recorded under PATH (the editor runs unsaved edits this way)")
    run.add_argument("--reuse", action="store_true",
                     help="do not run again what is unchanged since this workflow's last run: results are shown "
                          "again, and an unchanged Trainer's model comes back from its final checkpoint (verified) "
                          "instead of training; nodes whose params, inputs, data files or code changed run, with "
                          "everything downstream (the editor always runs this way)")
    run.add_argument("--until", metavar="NODE",
                     help="run only NODE (a node's name, as in --set) and the nodes it needs, nothing downstream")
    run.add_argument("--dry-run", action="store_true",
                     help="push one batch through the graph and write nothing: what flows on each link, "
                          "model sizes, time per batch and the ETA")
    check = sub.add_parser("validate", help="report every problem in a workflow without running it")
    check.add_argument("workflow")
    check.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE")
    for command in (run, check):
        command.add_argument("--checkpoint-config", metavar="YAML",
                             help="a YAML `checkpoint:` block (enabled, dir, experiment_name, save_frequency, "
                                  "save_best, resume) applied to every Trainer, with the experiments layout")
        command.add_argument("--overwrite", action="store_true",
                             help="a fresh run into a used checkpoint_dir moves the earlier files to "
                                  "checkpoint_dir/previous/<run-id>/ (never deletes them)")
    nodes = sub.add_parser("nodes", help="list every node type with its ports and params")
    nodes.add_argument("--markdown", action="store_true", help="print the Markdown node reference")
    nodes.add_argument("--verbose", action="store_true", help="also name the module that declares each type")
    sub.add_parser("devices", help="the devices this machine can train on, one JSON object per line")
    generate = sub.add_parser("generate", help="sample text from a language-model checkpoint (GPT)")
    generate.add_argument("checkpoint", help="a checkpoint file, e.g. checkpoints/shakespeare_gpt/run_1/best_model.pt")
    generate.add_argument("--prompt", default="\n", help="text to continue (default: a new line)")
    generate.add_argument("--max-new-tokens", type=int, default=500)
    generate.add_argument("--temperature", type=float, default=0.8, help="0: always the likeliest token")
    generate.add_argument("--top-k", type=int, default=200, help="sample among the k likeliest tokens (0: all)")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--device", default="cpu")
    generate.add_argument("--trust", action="store_true",
                          help="let the checkpoint run code: the Python file or module that builds its model "
                               "(PythonModel), and pickled objects; only for checkpoints you trust")
    cli_ckpt.add_parser(sub)
    runs_commands.add_parser(sub)
    sweep_commands.add_parser(sub)
    return parser


def _prepare(args: argparse.Namespace, check_outputs: bool = True, workflow: Any = None) -> tuple[Any, Any, Any]:
    """(registry, workflow, plan) for `args`; `workflow`: one already loaded (nodeflow.load's), else args.workflow's."""
    registry = default_registry()
    workflow = workflow if workflow is not None else load_workflow(args.workflow)
    if getattr(args, "as_path", None):
        workflow.path = Path(args.as_path)
    trainers = [n.name for n in registry.trainers(workflow)]
    overrides = []  # the YAML block first, so --set and --resume win over it
    if args.checkpoint_config:
        from nodeflow.checkpoints import yaml_block

        overrides += yaml_block.overrides(Path(args.checkpoint_config), trainers)
    overrides += args.overrides
    if getattr(args, "resume", None):
        overrides += [f"{name}.resume={args.resume}" for name in trainers]
    if args.overwrite:
        overrides += [f"{name}.overwrite=true" for name in trainers]
    apply_overrides(workflow, registry, overrides)
    device = getattr(args, "device", None)
    if device:
        from nodeflow.training.device import device_problem

        reason = device_problem(device)
        if reason:
            raise UserError(Issue(reason, field="--device"))
    # under torchrun only rank 0 checks what is on disk where nodes write (it writes there) and speaks
    # (with --reuse or --until, only once it is known which nodes run: see _check_outputs)
    checked = plan(workflow, registry, outputs=check_outputs and not getattr(args, "dry_run", False) and RANK == 0)
    for warning in checked.warnings if RANK == 0 else ():
        print(f"warning: {warning}", file=sys.stderr)
    return registry, workflow, checked


def cmd_validate(args: argparse.Namespace) -> int:
    _, workflow, _ = _prepare(args)
    print(f"{workflow.label}: OK ({len(workflow.nodes)} nodes, {len(workflow.links)} links)")
    return EXIT_OK


def cmd_nodes(args: argparse.Namespace) -> int:
    registry = default_registry()
    modules = declaring_modules() if args.verbose else None
    print(markdown_reference(registry) if args.markdown else text_listing(registry, modules))
    return EXIT_OK


def declaring_modules() -> dict[str, str]:
    """Each node type's module: the loaded module (not a package, which gathers its modules' lists)
    whose NODES holds the declaration."""
    found: dict[str, str] = {}
    for name, module in list(sys.modules.items()):
        if hasattr(module, "__path__"):
            continue
        nodes = getattr(module, "NODES", None)
        for spec in nodes if isinstance(nodes, list) else ():
            if isinstance(spec, NodeSpec):
                found.setdefault(spec.type, name)
    return found


def cmd_devices(args: argparse.Namespace) -> int:
    from nodeflow.training.device import available_devices

    for device in available_devices():
        print(json.dumps(device))
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from nodeflow.training.device import device_problem, resolve_device
    from nodeflow.training.generate import load_generator, sample

    reason = device_problem(args.device)
    if reason:
        raise UserError(Issue(reason, field="--device"))
    if args.max_new_tokens < 0:
        raise UserError(Issue("must be 0 or more", field="--max-new-tokens"))
    model, tokenizer = load_generator(args.checkpoint, str(resolve_device(args.device)), trust=args.trust)
    print(sample(model, tokenizer, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.seed))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    outcome = run_workflow(args)
    return outcome if isinstance(outcome, int) else EXIT_OK


def run_workflow(args: argparse.Namespace, workflow: Any = None, sink: Any = None) -> Any:
    """`nodeflow run` itself, for the CLI and for Python (nodeflow.load(...).run()): the RunResult, or
    the launcher's exit code with --nproc. `workflow`: one loaded and changed in memory; `sink`: where
    the events go instead of the console."""
    registry, workflow, run_plan = _prepare(args, check_outputs=not (args.reuse or args.until), workflow=workflow)
    if args.reuse and (args.nproc is not None or WORLD > 1) and not args.dry_run:
        raise UserError(Issue("cannot be combined with --nproc or torchrun: a reused model would have to "
                              "reach every process", field="--reuse"))
    if args.until:
        node = workflow.node_by_name(args.until) or workflow.nodes.get(args.until)
        if node is None:
            names = ", ".join(n.name for n in workflow.nodes.values())
            raise UserError(Issue(f"no node named {args.until!r} (nodes: {names})", field="--until",
                                  file=workflow.label))
        run_plan = upstream(run_plan, node.id)
    if args.nproc is not None and WORLD == 1 and not args.dry_run:  # a dry run pushes one batch: one process
        from nodeflow.launch import launch

        return launch(args, workflow)
    if WORLD > 1:  # started by torchrun: join the process group (nccl where the Trainer uses CUDA)
        from nodeflow.launch import requested_device
        from nodeflow.training import distributed

        distributed.start(requested_device(args, workflow))
    try:
        return _run(args, registry, workflow, run_plan, sink=sink)
    finally:
        if WORLD > 1:
            distributed.stop()


def _run(args: argparse.Namespace, registry: Any, workflow: Any, run_plan: Any, trial: Any = None,
         sink: Any = None) -> Any:
    """`trial`: a sweep's trial (nodeflow.sweep.trial): it prints the events (`sink`), marks the run
    record, sees every event on its way there (`tap`) and ends the run (`stop`); the workflow's reuse
    index is left alone. `sink`: where the events go instead of the console. Returns the RunResult."""
    from nodeflow.console import Console, jsonl_sink

    if trial is not None:
        sink = trial.sink
    elif sink is None:
        sink = jsonl_sink() if args.events == "jsonl" else Console(sys.stdout, sys.stderr)
    describe: Any = None
    if RANK != 0:  # torchrun's other ranks: rank 0 prints and records
        sink = _quiet
    elif args.dry_run:  # not a run: nothing recorded
        from nodeflow.training.dry_run import describe
    else:
        text = dumps(workflow)
        saved = args.as_path if args.as_path and Path(args.as_path).is_file() else args.workflow
        sink = RunRecorder(sink, {"workflow": str(Path(args.as_path or args.workflow).resolve()), "workflow_text": text,
                                  "workflow_hash": hashlib.sha256(text.encode()).hexdigest(),
                                  "changed": changed_params(dumps(_as_saved(saved, registry)), text),
                                  **(trial.marks if trial else {})})
        sink = trial.tap(sink) if trial else sink
    cache, steps = None, None
    if RANK == 0 and not args.dry_run and trial is None:  # every run records what it did; --reuse also reads it
        cache = NodeCache(index_path(Path(args.as_path or args.workflow)), workflow, run_plan, registry, args.device)
        steps = cache.steps() if args.reuse else None
        if args.reuse or args.until:
            _check_outputs(workflow, registry, {workflow.nodes[n].name for n in run_plan.order
                                                if steps is None or steps[n].action in (RUN, AGAIN)})
    stop = trial.stop if trial else threading.Event()
    executor = Executor(registry, sink, device_override=args.device, stop=stop, dry_run=args.dry_run,
                        describe=describe, cache=cache, steps=steps)
    with _stop_on_signals(stop):
        return executor.run(workflow, run_plan)


def _check_outputs(workflow: Any, registry: Any, running: set[str]) -> None:
    """What is on disk where the nodes that run write (another run's files, foreign files):
    nodes that are reused or left out write nothing, so what lies there is no problem for them."""
    try:
        plan(workflow, registry)
    except ValidationError as exc:
        issues = [i for i in exc.issues if not i.node or i.node in running]
        if issues:
            raise ValidationError(issues) from None


def _as_saved(path: str, registry: Any) -> Any:
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

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "nodes": cmd_nodes, "devices": cmd_devices,
            "generate": cmd_generate, "ckpt": cli_ckpt.run, "runs": runs_commands.run,
            "sweep": sweep_commands.run}


TRAINING_COMMANDS = ("run", "sweep", "generate")
READING_COMMANDS = ("ckpt", "runs")  # they print what files hold: control characters escaped, never sent raw


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # what --nproc hands every process
    warnings.showwarning = _show_warning
    if args.command in TRAINING_COMMANDS:  # the process is ours: tune it once, here and never in the library
        from nodeflow.training.allocator import keep_freed_memory

        keep_freed_memory()
    try:
        with redirect_stdout(PrintableStream(sys.stdout)) if args.command in READING_COMMANDS else nullcontext():
            return COMMANDS[args.command](args)
    except UserError as exc:
        rank = getattr(exc, "rank", None)  # set where one rank met bad data while training
        for issue in exc.issues if RANK == 0 or rank is not None else ():  # the same problem on every rank: once
            print(f"error: {'' if rank is None else f'[rank {rank}] '}{issue}", file=sys.stderr)
        return EXIT_INVALID
    except (RunInterrupted, KeyboardInterrupt):
        if RANK == 0:
            print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NodeRunError as exc:
        if isinstance(exc.__cause__, BrokenPipeError):
            return _reader_went_away()
        if WORLD > 1:
            from nodeflow.training.distributed import peer_failure

            if peer_failure(exc.__cause__ or exc):  # another rank failed and says why itself
                return EXIT_FAILED
            print(f"error: [rank {RANK}] {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        return _reader_went_away()


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Our own warnings (a backup used, a backup not written, a node pack that did not load) as one
    line; others as Python prints them."""
    ours = tuple(cls for module, name in (("nodeflow.checkpoints.torch_files", "CheckpointWarning"),
                                          ("nodeflow.core.registry", "NodePackWarning"))
                 if (cls := getattr(sys.modules.get(module), name, None)) is not None)
    if issubclass(category, ours):
        print(f"warning: {message}", file=sys.stderr)
    else:
        SHOW_WARNING(message, category, *args, **kwargs)


SHOW_WARNING = warnings.showwarning


def _reader_went_away() -> int:
    """The program reading our output closed it (`| head`): stop quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_FAILED
