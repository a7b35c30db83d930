"""What runs inside a Slurm job (submitit unpickles `SlurmRun` and calls it on every node).

Each start of the job is one attempt: `nodeflow run` in a child, attempt N = Slurm's restart count + 1,
a later one pinned to the run folders of the earlier ones with `resume=auto` (nodeflow.queue.attempt).
One node runs the workflow as it is (`--nproc G` with several GPUs); several nodes run torchrun, node
rank = the task's rank, rendezvous at the first node.

Stops: Slurm's warning before the time limit (SIGUSR2, which the child ignores) reaches submitit, which
calls `checkpoint`: the child is sent SIGTERM, writes its interrupt checkpoint, and the job is requeued.
A preemption, `scontrol requeue` or `scancel` sends SIGTERM to every process of the job: the child writes
its interrupt checkpoint and this process exits at once with 143, writing no result (the job is not
over; Slurm requeues it, or it was cancelled). Only a child that finished writes result.json with status done.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nodeflow.launch import child_environment, nodeflow_command
from nodeflow.queue import attempt
from nodeflow.queue.store import Row, home

EXIT_STOPPED = 143  # the job's exit when its run was stopped by a signal (128 + SIGTERM)


class SlurmRun:
    def __init__(self, row: Row, nodeflow_home: str = ""):
        self.row, self.home = row, nodeflow_home or str(home())
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def __getstate__(self) -> dict[str, Any]:
        return {"row": self.row, "home": self.home, "proc": None, "started": 0.0}

    def __call__(self) -> int:
        import submitit

        os.environ["NODEFLOW_HOME"] = self.home
        job = submitit.JobEnvironment()
        rank, restarts = job.global_rank, int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
        n = restarts + 1
        row, folder = self.row, self.row.folder
        events, errors = attempt.files(row, n)
        if rank:
            events, errors = Path(os.devnull), folder / f"attempt_{n}.rank{rank}.err"
        self.started = time.time()
        if rank == 0:
            _append(folder / "requeues.jsonl", {"attempt": n, "started": self.started, "job": job.job_id})
        with open(events, "wb") as out, open(errors, "wb") as err:
            self.proc = subprocess.Popen(self.command(n, rank, job), cwd=row.cwd, env=child_environment(),
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         preexec_fn=attempt.child_setup)
        code = self.proc.wait()
        self._note_records()
        if code == 0:
            if rank == 0:
                _write(folder / "result.json", {"status": "done", "attempt": n, "run_ids": self._records()})
            return 0
        if code in (130, -signal.SIGTERM, 128 + signal.SIGTERM):  # Slurm is ending the job: it is not over
            if rank == 0:
                _append(folder / "requeues.jsonl", {"attempt": n, "stopped": time.time(), "exit": code})
            os._exit(EXIT_STOPPED)  # no result of any kind: Slurm requeues, preempts or cancels the job
        reason = attempt.last_error(errors) or attempt.exit_reason(code)
        if rank == 0:
            _write(folder / "result.json", {"status": "failed", "reason": reason, "run_ids": self._records()})
        raise RuntimeError(reason)

    def command(self, n: int, rank: int, job: Any) -> list[str]:
        o, row = self.row.slurm, self.row
        args = attempt.arguments(row, n, "" if row.device in ("", "auto") else row.device)
        gpus, nodes = int(o.get("gpus", 0)), int(o.get("nodes", 1))
        if nodes > 1:
            port = 20000 + int(str(job.job_id).split("_")[0]) % 20000
            return [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nodes), "--node-rank", str(rank),
                    "--nproc-per-node", str(max(gpus, 1)), "--master-addr", job.hostnames[0], "--master-port",
                    str(port), "--no-python", *nodeflow_command(args)]
        return nodeflow_command([*args, "--nproc", str(gpus)] if gpus > 1 else args)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Called by submitit on Slurm's warning: stop the child at an interrupt checkpoint, then requeue."""
        import submitit

        signalled, code = time.time(), None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            code = _wait_for_exit(self.proc.pid, 60)
            if code is None:
                self.proc.kill()
            self._note_records()
        _append(self.row.folder / "requeues.jsonl", {"warned": signalled, "stopped": time.time(), "exit": code})
        return submitit.helpers.DelayedSubmission(SlurmRun(self.row, self.home))

    def _note_records(self) -> None:
        if self.proc is not None:
            for run_id in attempt.record_ids(self.proc.pid, self.started):
                _append(self.row.folder / "records.jsonl", {"run_id": run_id})

    def _records(self) -> list[str]:
        found: list[str] = []
        for event in attempt.read_events(self.row.folder / "records.jsonl"):
            if event.get("run_id") not in found:
                found.append(str(event["run_id"]))
        return found


def _wait_for_exit(pid: int, seconds: float) -> int | None:
    """The child's exit status once it ends (None after `seconds`), left for Popen to reap: this runs in a
    signal handler that interrupted Popen.wait, which holds the lock Popen's own waiting needs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:
            return None
        if found is not None and found.si_pid == pid:
            return found.si_status if found.si_code == os.CLD_EXITED else -found.si_status
        time.sleep(0.01)
    return None


def _append(path: Path, value: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": "note", **value}) + "\n")


def _write(path: Path, value: dict[str, Any]) -> None:
    from nodeflow.core.files import atomic_write_text

    atomic_write_text(path, json.dumps(value) + "\n")
