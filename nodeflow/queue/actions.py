"""What `nodeflow submit` and `nodeflow queue …` do."""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from nodeflow.core.errors import Issue, UserError
from nodeflow.core.printable import printable
from nodeflow.queue import attempt, slurm
from nodeflow.queue.store import FINAL, Queue, Row

DEVICE = re.compile(r"^(|auto|cpu|mps|cuda|cuda:\d+)$")


def submit(args: argparse.Namespace) -> int:
    """`nodeflow submit`: the run queued (or submitted), its id printed alone on stdout."""
    row, note = enqueue(args)
    print(note, file=sys.stderr)
    print(row.id)
    return 0


def enqueue(args: argparse.Namespace, cwd: str = "") -> tuple[Row, str]:
    """Everything checked before anything is written: the workflow with its --set values as `run` checks it,
    the device, and for Slurm its options and the cluster; then the run is queued (or submitted). The run and
    a line saying so; `cwd` (default: this process's) is where its relative checkpoint folders resolve."""
    from nodeflow.running import RunOptions, prepare

    path = Path(args.workflow)
    if not DEVICE.match(args.device):
        raise UserError(Issue(f"unknown device {args.device!r} (use cpu, cuda, cuda:N or mps)", field="--device"))
    local_device = args.device if args.to == "local" and args.device not in ("", "auto") else None
    prepare(path, RunOptions(overrides=tuple(args.overrides), device=local_device))
    slurm_options = {}
    if args.to == "slurm":
        slurm_options = slurm.options(args)
    else:
        for flag in ("partition", "sbatch", "setup"):
            if getattr(args, flag):
                raise UserError(Issue("is for --to slurm", field=f"--{flag}"))
    text = path.read_bytes()
    queue = Queue()
    row = queue.add(state="queued" if args.to == "local" else "slurm", target=args.to,
                    workflow=str(path.resolve()), cwd=cwd or os.getcwd(), overrides=list(args.overrides),
                    device=args.device, slurm=slurm_options,
                    on_insert=lambda row: _write_snapshot(row, text))
    if args.to == "slurm":
        slurm.submit(queue, row)
        row = queue.get(row.id)
        return row, f"Submitted run {row.id} as Slurm job {row.job_id}; `nodeflow queue show {row.id}` follows it"
    ahead = sum(1 for r in queue.rows() if r.state == "queued" and r.position < row.position)
    return row, f"Queued run {row.id}: {path} ({ahead} ahead of it; `nodeflow worker` runs it)"


def _write_snapshot(row: Row, text: bytes) -> None:
    row.folder.mkdir(parents=True, exist_ok=True)
    attempt.snapshot(row).write_bytes(text)


def queue_command(args: argparse.Namespace) -> int:
    queue = Queue()
    if args.action == "list":
        return list_runs(queue)
    if args.id is None:
        raise UserError(Issue(f"`nodeflow queue {args.action}` needs a run's id", field="ID"))
    row = queue.get(args.id)
    if args.action == "show":
        return show(queue, row)
    if args.action != "move" and args.position is not None:
        raise UserError(Issue(f"`queue {args.action}` takes one id", field="POSITION"))
    print(act(queue, row, args.action, args.position))
    return 0


def act(queue: Queue, row: Row, action: str, position: int | None = None) -> str:
    """cancel, pause, resume or move (to `position`) one run; what was done, in a line."""
    if row.target == "slurm" and action != "cancel":
        raise UserError(Issue(f"run {row.id} is Slurm job {row.job_id}: Slurm orders and holds it "
                              f"(scontrol hold/release); `queue cancel` cancels it", field="ID"))
    if action == "cancel":
        return cancel(queue, row)
    if action == "pause":
        if row.state == "running":
            queue.change(row.id, ("running",), wanted="pause")
            return f"run {row.id}: asked its worker to pause it (it stops at an interrupt checkpoint)"
        queue.change(row.id, ("queued",), state="paused", reason="paused")
        return f"run {row.id} paused"
    if action == "resume":
        queue.change(row.id, ("paused",), state="queued", reason="")
        return f"run {row.id} queued again"
    if position is None:
        raise UserError(Issue("`queue move ID POSITION` needs the place (1: next to run)", field="POSITION"))
    queue.move(row.id, position)
    return f"run {row.id} is now {position} in line"


def cancel(queue: Queue, row: Row) -> str:
    if row.target == "slurm":
        slurm.cancel(queue, row)
        return f"run {row.id}: Slurm job {row.job_id} cancelled"
    if row.state == "running":
        queue.change(row.id, ("running",), wanted="cancel")
        return f"run {row.id}: asked its worker to cancel it (it stops at an interrupt checkpoint)"
    queue.change(row.id, ("queued", "paused"), state="cancelled", ended=time.time(), reason="cancelled")
    return f"run {row.id} cancelled"


def list_runs(queue: Queue) -> int:
    rows = queue.rows()
    if any(r.target == "slurm" and r.state not in FINAL for r in rows):
        rows = [slurm.refresh(queue, r) if r.target == "slurm" else r for r in rows]
    if not rows:
        print("The queue is empty; `nodeflow submit WORKFLOW` adds a run.")
        return 0
    table = [("id", "state", "target", "device", "tries", "workflow", "note")]
    for r in rows:
        where = r.slot or r.device or "any"
        target = f"slurm {r.job_id}" if r.target == "slurm" else "local"
        table.append((str(r.id), r.state + (f" ({r.wanted})" if r.wanted else ""), target, where,
                      str(r.attempts), Path(r.workflow).name, r.reason[:80]))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for line in table:
        print(printable("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()))
    return 0


def show(queue: Queue, row: Row) -> int:
    if row.target == "slurm":
        row = slurm.refresh(queue, row)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.submitted))
    lines = [f"run {row.id}: {row.state}" + (f" ({row.reason})" if row.reason else ""),
             f"workflow: {row.workflow} (as submitted: {attempt.snapshot(row)})", f"submitted: {when} from {row.cwd}",
             f"set: {' '.join(row.overrides) or '-'}", f"device: {row.slot or row.device or 'any'}",
             f"attempts: {row.attempts}, killed while running: {row.crashes}",
             f"recorded runs: {', '.join(row.run_ids) or '-'} (`nodeflow runs show ID`)"]
    if row.target == "slurm":
        lines += slurm.describe(row)
    for path in attempt.attempts(row.folder):
        lines.append(f"{path.stem}: {progress(path)}")
    for line in lines:
        print(printable(line))
    return 0


def progress(path: Path) -> str:
    """One attempt in a line: how far its Trainers got and how it ended, from its events."""
    epochs: dict[str, str] = {}
    end, folders = "", []
    for event in attempt.read_events(path):
        kind = event["event"]
        if kind == "fit_start":
            folders.append(str(event.get("checkpoint_dir", "")))
        elif kind == "epoch_end":
            epochs[str(event.get("node"))] = f"epoch {event.get('epoch')}/{event.get('epochs')}"
        elif kind == "run_end":
            end = str(event.get("status", ""))
        elif kind == "error":
            end = f"error: {event.get('message', '')}"
    where = f" in {', '.join(folders)}" if folders else ""
    reached = ", ".join(f"{node} {text}" for node, text in epochs.items()) or "no epoch ended"
    return f"{reached}{where}; {end or 'no end recorded (stopped or still running)'}"
