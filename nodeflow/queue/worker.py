"""`nodeflow worker`: take queued runs in order, one per free device, each a `nodeflow run` child.

The queue holds the truth, the worker only what it started: a worker killed outright (kill -9, the
machine lost) leaves its runs `running` under its name, and the next worker to look (a restarted
one, or another already running) sees that worker gone and puts them back at their place in the
queue, to continue from their newest valid checkpoint. Its children die with it (PR_SET_PDEATHSIG;
one still alive on this machine is killed before its run is taken again). A run that was running
when its process or worker died MAX_CRASHES times is failed with that reason instead.

SIGTERM or Ctrl-C: every child is asked to stop (it writes its interrupt checkpoint) and goes back
to the queue; a second one kills them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from nodeflow.core.errors import Issue, UserError
from nodeflow.launch import child_environment, nodeflow_command
from nodeflow.queue import attempt
from nodeflow.queue.store import MAX_CRASHES, Queue, Row, alive, identity, this_worker, worker_gone

POLL_SECONDS, HEARTBEAT_SECONDS, REAP_SECONDS = 0.2, 5.0, 2.0


@dataclass
class Child:
    row: Row
    proc: subprocess.Popen[bytes]
    started: float
    n: int  # attempt number
    stopping: bool = False


class Worker:
    def __init__(self, queue: Queue, devices: list[str], drain: bool, out: IO[str] = sys.stdout):
        self.queue, self.devices, self.drain, self.out = queue, devices, drain, out
        self.me = this_worker()
        self.children: dict[int, Child] = {}  # slot index -> its run
        self.signals = 0
        self.beat = self.reaped = 0.0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while True:
                now = time.time()
                if now - self.reaped >= REAP_SECONDS:
                    self.reaped = now
                    reap(self.queue, self.me, self.say)
                self._collect()
                self._forward_requests()
                started = self._start_free() if not self.signals else False
                if now - self.beat >= HEARTBEAT_SECONDS:
                    self.beat = now
                    with self.queue.transaction() as db:
                        db.execute("UPDATE runs SET heartbeat = ? WHERE worker = ? AND state = 'running'",
                                   (now, self.me))
                if not self.children and (self.signals or self.drain and not started):
                    return 130 if self.signals else 0
                time.sleep(POLL_SECONDS)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals += 1
        for child in self.children.values():
            _signal(child.proc, signal.SIGTERM if self.signals == 1 else signal.SIGKILL)
        if self.signals == 1:
            self.say("Stopping: every run writes its interrupt checkpoint and goes back to the queue "
                     "(again to kill them)")

    def _start_free(self) -> bool:
        started = False
        for slot, device in enumerate(self.devices):
            if slot in self.children:
                continue
            row = self.queue.claim(self.me, device)
            if row is None:
                continue
            started = True
            self._start(slot, row, device)
        return started

    def _start(self, slot: int, row: Row, device: str) -> None:
        n = row.attempts
        events, errors = attempt.files(row, n)
        try:
            with open(events, "wb") as out, open(errors, "wb") as err:
                proc = subprocess.Popen(nodeflow_command(attempt.arguments(row, n, device)), cwd=row.cwd,
                                        env=child_environment(), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        preexec_fn=attempt.child_setup, start_new_session=True)
        except OSError as exc:
            self.queue.update(row.id, state="failed", ended=time.time(),
                              reason=f"could not start: {exc.strerror or exc} ({row.cwd})")
            self.say(f"run {row.id} failed: could not start ({exc.strerror or exc})")
            return
        self.queue.update(row.id, child=identity(proc.pid))
        self.children[slot] = Child(row, proc, time.time(), n)
        again = f", attempt {n}, continuing" if n > 1 else ""
        self.say(f"run {row.id} started on {device}{again}: {row.workflow}")

    def _forward_requests(self) -> None:
        """A cancel or pause asked of a running run: its child writes its interrupt checkpoint and stops."""
        for child in self.children.values():
            if not child.stopping and self.queue.get(child.row.id).wanted:
                child.stopping = True
                _signal(child.proc, signal.SIGTERM)

    def _collect(self) -> None:
        for slot, child in list(self.children.items()):
            code = child.proc.poll()
            if code is None:
                continue
            del self.children[slot]
            self._finish(child, code)

    def _finish(self, child: Child, code: int) -> None:
        row = self.queue.get(child.row.id)
        ids = row.run_ids + [i for i in attempt.record_ids(child.proc.pid, child.started) if i not in row.run_ids]
        done: dict[str, Any] = {"run_ids": ids, "child": "", "wanted": ""}
        seconds = f"{time.time() - child.started:.1f} s"
        if code == 0:
            done.update(state="done", ended=time.time(), reason="")
            self.say(f"run {row.id} done in {seconds} (run {ids[-1] if ids else '?'})")
        elif code == 130 and row.wanted in ("cancel", "pause"):
            state = "cancelled" if row.wanted == "cancel" else "paused"
            done.update(state=state, reason=f"{state} while running; it stopped at its interrupt checkpoint")
            self.say(f"run {row.id} {state}")
        elif code == 130 and self.signals:
            done.update(state="queued", reason="its worker stopped; it continues from its interrupt checkpoint")
            self.say(f"run {row.id} back in the queue")
        elif code == 130:
            done.update(state="paused", reason="stopped from outside the queue; `nodeflow queue resume` continues it")
            self.say(f"run {row.id} paused: stopped from outside the queue")
        elif code < 0:
            done.update(crashed(row, f"attempt {child.n} {attempt.exit_reason(code)}"))
            self.say(f"run {row.id} {done['state']}: {done['reason']}")
        else:
            reason = attempt.last_error(attempt.files(row, child.n)[1]) or attempt.exit_reason(code)
            done.update(state="failed", ended=time.time(), reason=reason)
            self.say(f"run {row.id} failed: {reason}")
        self.queue.update(row.id, **done)


def crashed(row: Row, what: str) -> dict[str, Any]:
    """The run's next state after its process or worker was killed while it ran."""
    crashes = row.crashes + 1
    if row.wanted in ("cancel", "pause"):
        state = "cancelled" if row.wanted == "cancel" else "paused"
        return {"state": state, "crashes": crashes, "reason": f"{state}; {what}"}
    if crashes >= MAX_CRASHES:
        return {"state": "failed", "crashes": crashes, "ended": time.time(),
                "reason": f"killed while running {crashes} times, not retried (last: {what})"}
    return {"state": "queued", "crashes": crashes,
            "reason": f"{what}; it continues from its newest valid checkpoint"}


def reap(queue: Queue, me: str, say: Any) -> None:
    """Put back the runs of workers that are gone (see the module's note)."""
    now = time.time()
    for row in queue.rows():
        if row.state != "running" or row.target != "local" or row.worker == me or not worker_gone(row, now):
            continue
        with queue.transaction() as db:
            row = queue.get(row.id)
            if row.state != "running" or not worker_gone(row, now):
                continue
            pid = attempt.pid_of(row.child)
            if pid and alive(row.child) and row.worker.startswith(me.partition(":")[0] + ":"):
                _kill(pid)  # its worker is gone, its run still trains: stop it before the run is taken again
            ids = row.run_ids + [i for i in attempt.record_ids(pid, row.started or 0) if i not in row.run_ids] \
                if pid else row.run_ids
            values = {**crashed(row, f"its worker died during attempt {row.attempts}"), "run_ids": ids,
                      "child": "", "wanted": "", "worker": ""}
            db.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                       [*(_json(v) for v in values.values()), row.id])
        say(f"run {row.id} {values['state']}: {values['reason']}")


def _json(value: Any) -> Any:
    import json

    return json.dumps(value) if isinstance(value, list) else value


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # its own process group (started with a new session)
    except (ProcessLookupError, PermissionError):
        pass


def check_devices(text: str) -> list[str]:
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise UserError(Issue("name at least one device, e.g. cpu or cpu,cuda:0", field="--devices"))
    from nodeflow.training.device import device_problem

    for device in devices:
        problem = device_problem(device)
        if problem or device == "auto":
            raise UserError(Issue(f"{device!r}: {problem or 'name the device itself (cpu, cuda:0, …)'}",
                                  field="--devices"))
    return devices
