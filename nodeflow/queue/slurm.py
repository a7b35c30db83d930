"""`nodeflow submit --to slurm`: the options checked against the cluster, the job submitted through
submitit, and its state read back from Slurm (`scontrol`, which needs no accounting database) and
from the job's own files in the run's folder ($NODEFLOW_HOME must be on a file system the nodes share).

A run is done only when its job wrote `result.json` saying so: a preempted, requeued or timed-out job
is never taken as finished, whatever else Slurm or submitit report.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from typing import Any

from nodeflow.core.errors import Issue, UserError
from nodeflow.core.printable import cut, printable
from nodeflow.queue.store import Queue, Row

WARNING_SECONDS = 90  # the job is sent SIGUSR2 this long before its time limit: interrupt checkpoint, requeue
ENDED = {"COMPLETED": "done", "CANCELLED": "cancelled"}


def options(args: argparse.Namespace) -> dict[str, Any]:
    """The Slurm options of `submit`, each checked here, before anything is written."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        raise UserError(Issue("sbatch and scontrol are not on PATH: Slurm's client commands are needed to "
                              "submit (on a cluster's login node: `module load slurm`)", field="--to"))
    minutes = time_minutes(args.time)
    if args.gpus < 0 or args.nodes < 1:
        field, text = ("--gpus", "must be 0 or more") if args.gpus < 0 else ("--nodes", "must be 1 or more")
        raise UserError(Issue(f"{text}, got {args.gpus if field == '--gpus' else args.nodes}", field=field))
    if args.device.startswith("cuda") and args.gpus == 0:
        raise UserError(Issue(f"{args.device} needs --gpus 1 or more", field="--device"))
    extra: dict[str, Any] = {}
    for line in args.sbatch:
        match = re.fullmatch(r"--([A-Za-z][\w-]*)(?:=(.+))?", line.strip())
        if not match:
            raise UserError(Issue(f"{line!r}: expected an sbatch option such as --mem=8G or --exclusive",
                                  field="--sbatch"))
        extra[match.group(1)] = match.group(2) if match.group(2) is not None else True
    partitions = _partitions()
    if args.partition and args.partition not in partitions:
        raise UserError(Issue(f"no partition {args.partition!r} on this cluster (partitions: "
                              f"{', '.join(partitions) or 'none'})", field="--partition"))
    return {"partition": args.partition or "", "time": minutes, "gpus": args.gpus, "nodes": args.nodes,
            "sbatch": extra, "setup": list(args.setup)}


def time_minutes(text: str) -> int:
    """MINUTES, HH:MM:SS or D-HH:MM:SS as whole minutes, at least 2 (the job is warned 90 s before its end)."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d\d):(\d\d)", text) or re.fullmatch(r"(\d+)", text)
    if not match:
        raise UserError(Issue(f"{text!r}: use MINUTES, HH:MM:SS or D-HH:MM:SS", field="--time"))
    if match.lastindex == 1:
        minutes = int(match.group(1))
    else:
        days, hours, mins, secs = (int(g or 0) for g in match.groups())
        minutes = days * 1440 + hours * 60 + mins + (secs > 0)
    if minutes < 2:
        raise UserError(Issue(f"{text!r}: at least 2 minutes (the job is warned {WARNING_SECONDS} s before its "
                              f"time limit)", field="--time"))
    return minutes


def _partitions() -> list[str]:
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(Issue(f"could not ask Slurm for its partitions ({exc})", field="--to")) from None
    if done.returncode != 0:
        raise UserError(Issue(f"Slurm did not answer: {_line(done.stderr)}", field="--to"))
    return sorted(set(done.stdout.split()))


def submit(queue: Queue, row: Row) -> None:
    """Submit the run as a job; a refusal by sbatch marks it failed and is one line."""
    import submitit

    from nodeflow.queue.slurm_job import SlurmRun

    o = row.slurm
    executor = submitit.SlurmExecutor(folder=row.folder / "slurm" / "%j")
    params: dict[str, Any] = {"time": o["time"], "nodes": o["nodes"], "ntasks_per_node": 1, "job_name":
                              f"nodeflow-{row.id}", "signal_delay_s": WARNING_SECONDS, "setup": o["setup"],
                              "additional_parameters": o["sbatch"]}
    if o["partition"]:
        params["partition"] = o["partition"]
    if o["gpus"]:
        params["gpus_per_node"] = o["gpus"]
    try:
        executor.update_parameters(**params)
        job = executor.submit(SlurmRun(row))
    except Exception as exc:  # sbatch's refusal (a wrong option, account or limit), submitit's checks
        reason = f"sbatch refused the job: {_line(str(getattr(exc, 'output', '') or exc))}"
        queue.update(row.id, state="failed", reason=reason)
        raise UserError(Issue(reason, field="--to")) from None
    queue.update(row.id, job_id=str(job.job_id), reason="submitted")


def job_state(job_id: str) -> dict[str, str]:
    """Slurm's fields of the job (JobState, Reason, Restarts, RunTime, …); {} when Slurm no longer knows it."""
    try:
        done = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode != 0:
        return {}
    return dict(re.findall(r"(\w+)=(\S*)", done.stdout))


def result(row: Row) -> dict[str, Any]:
    try:
        found = json.loads((row.folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return found if isinstance(found, dict) else {}


def refresh(queue: Queue, row: Row) -> Row:
    """Bring a Slurm run's state up to date from its job's result file and Slurm."""
    if row.state != "slurm" or not row.job_id:
        return row
    from nodeflow.queue.attempt import attempts

    tries = len(attempts(row.folder))
    if tries != row.attempts:
        queue.update(row.id, attempts=tries)
    state, done = job_state(row.job_id), result(row)
    slurm_state = state.get("JobState", "")
    ids = [i for i in done.get("run_ids", []) if isinstance(i, str)]
    if done.get("status") == "done" and slurm_state in ("", "COMPLETED"):
        queue.update(row.id, state="done", reason="", run_ids=ids)
    elif done.get("status") == "failed":
        queue.update(row.id, state="failed", reason=printable(cut(str(done.get("reason", "")), 300)), run_ids=ids)
    elif slurm_state in ENDED or slurm_state in ("FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                                                 "DEADLINE"):
        queue.update(row.id, state=ENDED.get(slurm_state, "failed"),
                     reason=f"Slurm: {slurm_state} ({state.get('Reason', '')}) without a result")
    elif not state:
        queue.update(row.id, reason="Slurm no longer knows the job and it wrote no result")
    else:
        restarts = state.get("Restarts", "0")
        queue.update(row.id, reason=f"Slurm: {slurm_state}" + (f", requeued {restarts}x" if restarts != "0" else ""))
    return queue.get(row.id)


def describe(row: Row) -> list[str]:
    state = job_state(row.job_id) if row.job_id else {}
    lines = [f"slurm job: {row.job_id or '-'} ({', '.join(f'{k} {state[k]}' for k in ('JobState', 'Reason', 'Restarts', 'RunTime', 'NodeList') if k in state) or 'not known to Slurm now'})",  # noqa: E501
             f"slurm options: {json.dumps(row.slurm)}", f"job files: {row.folder / 'slurm' / row.job_id}"]
    try:
        lines += [f"requeue: {line.strip()}" for line in (row.folder / "requeues.jsonl").read_text().splitlines()]
    except OSError:
        pass
    return lines


def cancel(queue: Queue, row: Row) -> None:
    if row.state != "slurm":
        raise UserError(Issue(f"run {row.id} is {row.state}; only a submitted job can be cancelled", field="ID"))
    done = subprocess.run(["scancel", row.job_id], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise UserError(Issue(f"scancel {row.job_id}: {_line(done.stderr)}", field="ID"))
    queue.update(row.id, state="cancelled", reason="cancelled")


def _line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return printable(cut(lines[-1] if lines else "no message", 300))
