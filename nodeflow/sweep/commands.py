"""`nodeflow sweep`: argument parsing only; Optuna is imported when a sweep command runs, never
at start-up (the body lives in nodeflow.sweep.runner and nodeflow.sweep.results)."""
from __future__ import annotations

import argparse
from typing import Any

from nodeflow.core.errors import Issue, UserError

EXAMPLE = ("nodeflow sweep workflows/digits_cnn.json --param Trainer.lr=loguniform:1e-4:1e-2 "
           "--param Trainer.batch_size=choice:32,64,128 --trials 12 --metric val_loss")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sweep", help="search node params with Optuna (or `sweep show STUDY`: its results)",
        usage="nodeflow sweep WORKFLOW --param NODE.FIELD=KIND:ARGS [--param …] [options]\n"
              "       nodeflow sweep show STUDY [--storage URL] [--dir FOLDER] [--apply-best OUT.json]",
        description="Run an Optuna study over node params: every trial is a normal run with its own "
                    "checkpoint folder (SWEEP_DIR/trial_N) and run record. Running the same command again "
                    "continues the study; several processes (or machines) on one --storage share it. "
                    f"Example: {EXAMPLE}")
    p.add_argument("target", nargs="+", metavar="WORKFLOW | show STUDY",
                   help="the workflow to sweep, or `show STUDY` to print and write a study's results")
    p.add_argument("--param", dest="params", action="append", default=[], metavar="NODE.FIELD=KIND:ARGS",
                   help="a param to search (repeatable): loguniform:LO:HI, uniform:LO:HI, int:LO:HI[:STEP], "
                        "choice:A,B,C (a list param: choice:16,32|32,64)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="fix a param for every trial, as `nodeflow run --set` does (repeatable), e.g. "
                        "--set Trainer.epochs=3")
    p.add_argument("--trials", type=int, default=20,
                   help="trials the study should hold, finished or running, over all its workers (default 20); "
                        "a trial whose process died is retried and does not count")
    p.add_argument("--metric", default="val_loss",
                   help="a Trainer's per-epoch metric to optimise, e.g. val_loss, val_accuracy "
                        "(Trainer.val_loss with several Trainers)")
    p.add_argument("--direction", choices=("auto", "minimize", "maximize"), default="auto",
                   help="auto: minimize losses, mae, rmse and perplexity, maximize the rest")
    p.add_argument("--sampler", choices=("tpe", "random", "grid"), default="tpe")
    p.add_argument("--pruner", default="median", metavar="median[:STARTUP[:WARMUP]]|none",
                   help="stop hopeless trials at an epoch's end (Optuna's MedianPruner: after STARTUP complete "
                        "trials, default 5, and WARMUP epochs, default 0); a pruned trial keeps its last checkpoint")
    p.add_argument("--storage", metavar="URL",
                   help="the study's database, e.g. sqlite:///sweep.db or postgresql://user@host/db "
                        "(default: sqlite in the sweep's folder)")
    p.add_argument("--study", metavar="NAME", help="the study's name (default: the workflow file's name)")
    p.add_argument("--dir", metavar="FOLDER", help="the sweep's folder: trial checkpoints and results "
                                                    "(default: sweeps/STUDY)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes on this machine sharing the study (default 1)")
    p.add_argument("--seed", type=int, help="the sampler's seed (default: random)")
    p.add_argument("--device", help="device for every Trainer: auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--events", choices=("jsonl",), help="print events as JSON lines (the editor reads them)")
    p.add_argument("--apply-best", metavar="OUT.json",
                   help="show: write the workflow with the best trial's params into a new file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --jobs: no results


def run(args: argparse.Namespace) -> int:
    if args.target[0] == "show":
        if len(args.target) != 2:
            raise UserError(Issue("expected `nodeflow sweep show STUDY`", field="STUDY"))
        from nodeflow.sweep.show import cmd_show

        return cmd_show(args, args.target[1])
    if len(args.target) != 1:
        raise UserError(Issue(f"expected one workflow file, got {' '.join(args.target)}", field="WORKFLOW"))
    if args.apply_best:
        raise UserError(Issue("belongs to `nodeflow sweep show STUDY`", field="--apply-best"))
    from nodeflow.sweep.runner import cmd_sweep

    return cmd_sweep(args, args.target[0])
