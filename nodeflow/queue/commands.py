"""`nodeflow submit`, `nodeflow queue` and `nodeflow worker`: argument parsing only; the bodies are
imported when a command runs (nodeflow.queue.actions, worker, slurm)."""
from __future__ import annotations

import argparse
from typing import Any

QUEUE_ACTIONS = ("list", "show", "cancel", "pause", "resume", "move")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("submit", help="add a run to the queue (or to Slurm with --to slurm) and print its id",
                       description="Check the workflow as `nodeflow run` would, keep a copy of it with its --set "
                                   "values and device, and queue it: `nodeflow worker` runs it locally, or with "
                                   "--to slurm it becomes a Slurm job at once (submitit). Prints the run's id.")
    p.add_argument("workflow")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a param, as `nodeflow run --set` does (repeatable)")
    p.add_argument("--device", default="", help="the device it needs: cpu, cuda, cuda:N (default: any worker's)")
    p.add_argument("--to", choices=("local", "slurm"), default="local", help="who runs it (default: local)")
    slurm = p.add_argument_group("Slurm (--to slurm)")
    slurm.add_argument("--partition", help="the partition (default: the cluster's default)")
    slurm.add_argument("--time", default="60", metavar="MINUTES|HH:MM:SS",
                       help="time limit of each job run (default 60 minutes); the job is warned 90 s before, "
                            "writes its interrupt checkpoint and is requeued")
    slurm.add_argument("--gpus", type=int, default=0, metavar="N", help="GPUs per node (one process each)")
    slurm.add_argument("--nodes", type=int, default=1, metavar="N", help="nodes; more than one runs torchrun "
                                                                          "across the allocation")
    slurm.add_argument("--sbatch", dest="sbatch", action="append", default=[], metavar="OPTION",
                       help="an extra sbatch option, e.g. --sbatch=--mem=8G (repeatable)")
    slurm.add_argument("--setup", action="append", default=[], metavar="LINE",
                       help="a shell line run before the job, e.g. 'module load cuda' or "
                            "'source ~/venv/bin/activate' (repeatable)")
    q = sub.add_parser("queue", help="list and manage queued runs (list, show, cancel, pause, resume, move)",
                       usage="nodeflow queue [list] | show ID | cancel ID | pause ID | resume ID | move ID POSITION")
    q.add_argument("action", nargs="?", default="list", choices=QUEUE_ACTIONS)
    q.add_argument("id", nargs="?", type=int, help="a run's id, as `submit` printed it")
    q.add_argument("position", nargs="?", type=int, help="move: its place among the waiting runs (1: next)")
    w = sub.add_parser("worker", help="run queued runs, one per free device",
                       description="Take queued runs in order, one per free device, each a normal `nodeflow run` "
                                   "recorded in the run index. A worker killed mid-run loses nothing: the next "
                                   "worker continues its run from the newest valid checkpoint.")
    w.add_argument("--devices", default="cpu", help="comma-separated devices, one run at a time on each "
                                                    "(e.g. cpu,cuda:0,cuda:1; cpu,cpu runs two on the CPU)")
    w.add_argument("--drain", action="store_true", help="exit once no queued run is left for these devices")


def submit_args(workflow: str) -> argparse.Namespace:
    """`nodeflow submit WORKFLOW` with every other option at its default, as the command line would parse it."""
    parser = argparse.ArgumentParser(prog="nodeflow")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["submit", workflow])


def run_submit(args: argparse.Namespace) -> int:
    from nodeflow.queue.actions import submit

    return submit(args)


def run_queue(args: argparse.Namespace) -> int:
    from nodeflow.queue.actions import queue_command

    return queue_command(args)


def run_worker(args: argparse.Namespace) -> int:
    from nodeflow.queue.store import Queue
    from nodeflow.queue.worker import Worker, check_devices

    devices = check_devices(args.devices)
    return Worker(Queue(), devices, args.drain).run()
