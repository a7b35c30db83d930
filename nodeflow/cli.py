"""Headless commands: `run`, `validate`, `nodes`, `devices`, `generate`, `ckpt`, `runs`, `sweep`, `submit`, `queue`,
`worker`.

Argument parsing and exit codes only.

Exit codes: 0 done, 1 failure during the run, 2 invalid input, 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from contextlib import nullcontext, redirect_stdout
from dataclasses import fields
from functools import lru_cache
from typing import Any

from nodeflow import cli_ckpt, runs_commands
from nodeflow.core import (
    Issue,
    NodeRunError,
    NodeSpec,
    RunInterrupted,
    UserError,
    default_registry,
)
from nodeflow.core.printable import PrintableStream
from nodeflow.core.reference import markdown_reference, text_listing
from nodeflow.running import RANK, WORLD, RunOptions, prepare, run
from nodeflow.queue import commands as queue_commands
from nodeflow.sweep import commands as sweep_commands

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


@lru_cache(maxsize=1)
def build_parser() -> argparse.ArgumentParser:
    """Built once per process: argparse looks up its message translations on disk for every argument,
    about 10 ms a build, which a library or test calling `main` many times paid on each call."""
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
    queue_commands.add_parsers(sub)
    return parser


def run_options(args: argparse.Namespace) -> RunOptions:
    """The options of `run` or `validate`, read from their parsed flags once."""
    given = {f.name: getattr(args, f.name) for f in fields(RunOptions) if hasattr(args, f.name)}
    return RunOptions(**{**given, "overrides": tuple(args.overrides), "argv": tuple(getattr(args, "argv", ()))})


def cmd_validate(args: argparse.Namespace) -> int:
    workflow = prepare(args.workflow, run_options(args)).workflow
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
    from nodeflow.console import Console, jsonl_sink

    sink = jsonl_sink() if args.events == "jsonl" else Console(sys.stdout, sys.stderr)
    outcome = run(prepare(args.workflow, run_options(args)), sink)
    return outcome if isinstance(outcome, int) else EXIT_OK


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "nodes": cmd_nodes, "devices": cmd_devices,
            "generate": cmd_generate, "ckpt": cli_ckpt.run, "runs": runs_commands.run,
            "sweep": sweep_commands.run, "submit": queue_commands.run_submit, "queue": queue_commands.run_queue,
            "worker": queue_commands.run_worker}


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
