"""`python main.py ARGS` in a child process that starts warm.

Each CLI call of the suite used to start a fresh interpreter that imported torch, the optimizers'
torch._dynamo and our packages again: 2-3 s of every call, over 200 calls. Here each pytest worker
keeps one fork server (multiprocessing's "forkserver", a fresh interpreter that imported those modules
once, before any test code ran), and each call is a child forked from it: its own process, with the
call's working directory, environment, arguments and stdout/stderr, running main.py as `python main.py`
does, exit code included. What a fresh interpreter would do differently is only what these modules do
when imported; tests of start-up itself (imports, sys.path, environment read at start) start a real
interpreter with `subprocess` instead.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STARTED: list[Started] = []  # children start_cli started: a test that fails midway may leave one running
# what every run imports; nothing here reads the environment or the working directory when imported
PRELOAD = ["torch", "torch._dynamo", "torch.optim", "numpy", "nodeflow.cli", "nodes"]
_context: Any = None


def _stream(fd: int, target: str | Connection) -> io.TextIOWrapper:
    """fd 1 or 2 of the child onto a file (by path) or the write end of a pipe."""
    if isinstance(target, str):
        opened = os.open(target, os.O_WRONLY)
        os.dup2(opened, fd)
        os.close(opened)
    else:
        os.dup2(target.fileno(), fd)
        target.close()
    # unbuffered, as the suite's children ran (PYTHONUNBUFFERED): each write reaches the file in order
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                            write_through=True)


def _main(argv: list[str], cwd: str, env: dict[str, str], out: str | Connection, err: str | Connection) -> None:
    """In the forked child: become `python main.py ARGV` started in CWD with ENV."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdout, sys.stderr = _stream(1, out), _stream(2, err)
    script = str(ROOT / "main.py")
    sys.argv = [script, *argv]
    # as `python main.py`: the script's folder first, never the working directory
    sys.path[:] = [str(ROOT), *(p for p in sys.path if p not in ("", ".", str(ROOT)))]
    runpy.run_path(script, run_name="__main__")


def _server() -> Any:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def run_main(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """What `subprocess.run([python, main.py, *args], cwd=cwd, env=env, capture_output=True, text=True,
    timeout=timeout)` returns, from a warm child."""
    with tempfile.TemporaryDirectory(prefix="nodeflow-cli-") as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        out.touch()
        err.touch()
        child = _server().Process(target=_main, args=(args, str(cwd), env, str(out), str(err)))
        child.start()
        child.join(timeout)
        timed_out = child.exitcode is None
        if timed_out:
            child.kill()
            child.join()
        streams = out.read_text(errors="backslashreplace"), err.read_text(errors="backslashreplace")
        if timed_out:
            raise subprocess.TimeoutExpired(["main.py", *args], timeout, *streams)
        return subprocess.CompletedProcess(["main.py", *args], child.exitcode, *streams)


class Started:
    """`subprocess.Popen([python, main.py, *args], cwd=cwd, env=env, stdout=PIPE, stderr=PIPE, text=True)`
    from a warm child: read `stdout` line by line while it runs; kill, signal, poll, wait, communicate."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        pipes = [multiprocessing.Pipe(duplex=False) for _ in range(2)]  # (read end, write end) each
        self._child = _server().Process(target=_main, args=(args, str(cwd), env, pipes[0][1], pipes[1][1]))
        self._child.start()
        STARTED.append(self)
        self.pid = self._child.pid
        self.stdout, self.stderr = (os.fdopen(os.dup(read.fileno()), encoding="utf-8", errors="backslashreplace")
                                    for read, _ in pipes)
        for read, write in pipes:
            read.close()
            write.close()

    @property
    def returncode(self) -> int | None:
        return self._child.exitcode

    def poll(self) -> int | None:
        return self._child.exitcode

    def send_signal(self, number: int) -> None:
        if self._child.exitcode is None:
            os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        self._child.join(timeout)
        if self._child.exitcode is None:
            raise subprocess.TimeoutExpired(self.pid, timeout or 0)
        return self._child.exitcode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """The rest of stdout and stderr (read together, so neither pipe fills), once the child ended."""
        read: dict[str, str] = {}
        readers = [threading.Thread(target=lambda name=name, f=f: read.__setitem__(name, f.read()), daemon=True)
                   for name, f in (("out", self.stdout), ("err", self.stderr))]
        for reader in readers:
            reader.start()
        self.wait(timeout)
        for reader in readers:
            reader.join(timeout)
        return read.get("out", ""), read.get("err", "")


def kill_leftovers() -> None:
    """Kill what a test started and left running, so that it neither runs into the next tests nor keeps
    the worker from exiting (multiprocessing waits for its children at exit)."""
    while STARTED:
        child = STARTED.pop()
        child.kill()
        child.wait(30)
