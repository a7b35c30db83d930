"""Child processes: the headless runner (`python -m nodeflow run --events jsonl`) and `ckpt` tools.

A crash, kill or bad output in the child can never take the editor down: everything
arrives as Qt signals, and the exit is always reported, however the child ended.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from nodeflow.launch import child_pythonpath, nodeflow_command

STOP_GRACE_MS = 15000  # after Stop, how long the child gets to save its interrupt checkpoint


def child_command(args: Sequence[str]) -> tuple[str, list[str]]:
    """QProcess's program and arguments for `nodeflow ARGS` (nodeflow.launch builds every child's command)."""
    program, *argv = nodeflow_command(args)
    return program, argv


def child_environment() -> QtCore.QProcessEnvironment:
    env = QtCore.QProcessEnvironment.systemEnvironment()
    env.insert("PYTHONUNBUFFERED", "1")
    env.insert("PYTHONPATH", child_pythonpath(env.value("PYTHONPATH")))  # the child imports this NodeFlow
    return env


class RunProcess(QtCore.QObject):
    """One run of a workflow file in a child process."""

    event = QtCore.Signal(object)  # each JSON event line, a dict
    output = QtCore.Signal(str)  # stderr and any stdout line that is not an event
    ended = QtCore.Signal(int, str)  # exit code (-1 when it crashed or was killed), a one-line summary
    exited = QtCore.Signal()  # a child that ended its run at run_end has now exited (its run record is final)

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.process: QtCore.QProcess | None = None
        self._buffer = b""
        self._stopping = False
        self.over = False  # the child's run_end said its run ended: it only exits now (writes its record, unloads)
        self._watch_end = False  # a run (not a sweep): its run_end event ends it
        self._exiting: list[QtCore.QProcess] = []  # earlier children still exiting after their run ended
        self._kill_timer = QtCore.QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self.kill)

    def running(self) -> bool:
        """A run is going: its child has neither exited nor said that its run ended."""
        return self.alive() and not self.over

    def alive(self) -> bool:
        """The child process has not exited (after its run ended it may still be writing and unloading)."""
        return self.process is not None and self.process.state() != QtCore.QProcess.ProcessState.NotRunning

    def start(self, workflow: Path, cwd: Path, device: str = "", resume: str = "",
              overrides: Sequence[str] = (), dry_run: bool = False, as_path: Path | None = None,
              until: str = "") -> None:
        """Run `workflow`; `as_path`: the file it stands for (a snapshot of unsaved edits runs as that file).
        A run reuses what did not change since the last one (`--reuse`); `until`: run that node and what
        it needs, nothing downstream."""
        args = ["run", str(workflow), "--events", "jsonl"] + (["--dry-run"] if dry_run else [])
        args += ["--as", str(as_path)] if as_path else []
        args += ["--until", until] if until else []
        args += ["--reuse"] if not dry_run and not device.startswith("ddp:") else []  # refused with --nproc
        if device.startswith("ddp:"):  # N processes (DDP): `run --nproc N --device DEVICE`; a dry run uses one
            _, count, device = device.split(":", 2)
            args += [] if dry_run else ["--nproc", count]
        args += ["--device", device] if device else []
        args += ["--resume", resume] if resume else []
        for override in overrides:
            args += ["--set", override]
        self.launch(args, cwd, ends_at_run_end=True)

    def launch(self, args: list[str], cwd: Path, ends_at_run_end: bool = False) -> None:
        """`nodeflow ARGS` in a child process whose JSON-lines events this object reads; `ends_at_run_end`:
        its run_end event (completed or stopped) ends it, before the child has exited."""
        if self.alive():  # the last child's run ended and it is still exiting: let it, unheard
            self._let_exit(self.process)
        program, argv = child_command(args)
        proc = QtCore.QProcess(self)
        proc.setProcessEnvironment(child_environment())
        proc.setWorkingDirectory(str(cwd))
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self.process, self._buffer, self._stopping = proc, b"", False
        self.over, self._watch_end = False, ends_at_run_end
        proc.start(program, argv)

    def _let_exit(self, proc: QtCore.QProcess) -> None:
        for signal in (proc.readyReadStandardOutput, proc.readyReadStandardError, proc.finished, proc.errorOccurred):
            signal.disconnect()
        self._exiting.append(proc)
        proc.finished.connect(lambda *_: self._exiting.remove(proc) if proc in self._exiting else None)

    def stop(self, grace_ms: int = STOP_GRACE_MS) -> None:
        """A clean interrupt (SIGTERM: finish the batch, save a checkpoint); a kill after `grace_ms`.
        Nothing once the run has ended: its child is only exiting."""
        if self.running():
            self._stopping = True
            self.process.terminate()
            self._kill_timer.start(grace_ms)

    def kill(self) -> None:
        if self.alive():
            if not self.over:
                self.output.emit("The run did not stop in time; killing it.")
            self.process.kill()

    def wait(self, ms: int) -> bool:
        """Wait for the child (and any earlier one still exiting) to exit; False when one is still there."""
        for proc in list(self._exiting):
            proc.waitForFinished(ms)
        return self.process.waitForFinished(ms) if self.alive() else True

    def _read_stdout(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            self._line(raw.decode("utf-8", "replace"))

    def _line(self, text: str) -> None:
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if isinstance(event, dict) and "event" in event:
            self.event.emit(event)
            code = END_CODES.get(event.get("status")) if event["event"] == "run_end" else None
            if code is not None and self._watch_end and not self.over:  # shown as ended now, not at the exit
                self.over = True
                self.ended.emit(code, EXIT_TEXT[code])
        elif text.strip():
            self.output.emit(text)

    def _read_stderr(self) -> None:
        for text in bytes(self.process.readAllStandardError()).decode("utf-8", "replace").splitlines():
            if text.strip():
                self.output.emit(text)

    def _finished(self, code: int, status: QtCore.QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        if self._buffer:
            self._line(self._buffer.decode("utf-8", "replace"))
            self._buffer = b""
        self._read_stderr()
        if self.over:  # already reported at its run_end; the exit adds nothing unless it went wrong
            if status == QtCore.QProcess.ExitStatus.NormalExit and code not in END_CODES.values():
                self.output.emit(f"The runner exited with code {code} after its run ended.")
            self.exited.emit()
            return
        if status == QtCore.QProcess.ExitStatus.CrashExit:
            how = "was stopped by force" if self._stopping else "crashed or was killed"
            self.ended.emit(-1, f"The run {how} (no clean exit).")
        else:
            self.ended.emit(code, EXIT_TEXT.get(code, f"The run ended with exit code {code}."))

    def _error(self, error: QtCore.QProcess.ProcessError) -> None:
        if error == QtCore.QProcess.ProcessError.FailedToStart:
            self.ended.emit(-1, f"Could not start the runner: {self.process.errorString()}")


EXIT_TEXT = {0: "Run completed.", 1: "The run failed.", 2: "The run stopped on invalid input (see the error above).",
             130: "Run stopped."}
END_CODES = {"completed": 0, "interrupted": 130}  # a run_end that ends a run before its child exits


def run_tool(parent: QtCore.QObject, args: Sequence[str], cwd: Path,
             done: Callable[[int, str, str], Any]) -> QtCore.QProcess:
    """Run `nodeflow ARGS` without blocking; `done(exit_code, stdout, stderr)` when it ends."""
    proc = QtCore.QProcess(parent)
    proc.setProcessEnvironment(child_environment())
    proc.setWorkingDirectory(str(cwd))

    def finished(code: int, status: QtCore.QProcess.ExitStatus) -> None:
        try:
            if proc.property("abandoned"):
                return
            out = bytes(proc.readAllStandardOutput()).decode("utf-8", "replace")
            err = bytes(proc.readAllStandardError()).decode("utf-8", "replace")
        except RuntimeError:  # the owner went away while the tool ran
            return
        done(code if status == QtCore.QProcess.ExitStatus.NormalExit else -1, out, err)
        proc.deleteLater()

    proc.finished.connect(finished)
    proc.errorOccurred.connect(lambda e: e == QtCore.QProcess.ProcessError.FailedToStart
                               and done(-1, "", proc.errorString()))
    program, argv = child_command(args)
    proc.start(program, argv)
    return proc


def abandon_tools(owner: QtCore.QObject) -> None:
    """Kill the `ckpt`/`devices` helpers still running under `owner` (the editor is closing)."""
    for proc in owner.findChildren(QtCore.QProcess):
        if proc.state() != QtCore.QProcess.ProcessState.NotRunning:
            proc.setProperty("abandoned", True)
            proc.kill()
            proc.waitForFinished(2000)
