"""The queue's tests: real `nodeflow` commands in child processes, each test with its own NodeFlow home."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, WORKFLOWS

WINE = str(WORKFLOWS / "wine_mlp.json")


class Home:
    """A NodeFlow home and a working folder; runs the CLI there as a user would."""

    def __init__(self, root: Path):
        self.root, self.cwd = root / "home", root / "work"
        self.cwd.mkdir()
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "NODEFLOW_HOME": str(self.root), "OMP_NUM_THREADS": "1"}
        self.workers: list[subprocess.Popen[str]] = []

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def here(self, *args: str) -> tuple[int, str, str]:
        """`nodeflow ARGS` in this process (torch is imported once, not per command): exit code, stdout, stderr."""
        from nodeflow.cli import main

        out, err, before = io.StringIO(), io.StringIO(), os.getcwd()
        os.environ["NODEFLOW_HOME"] = str(self.root)
        os.chdir(self.cwd)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code = main(list(args))
        finally:
            os.chdir(before)
        return code, out.getvalue(), err.getvalue()

    def submit(self, *args: str) -> int:
        code, out, err = self.here("submit", *args)
        assert code == 0, err
        return int(out.strip())

    def worker(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "worker", *args], cwd=self.cwd,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.workers.append(proc)
        return proc

    def queue(self):  # the queue database, read in this process
        from nodeflow.queue.store import Queue

        os.environ["NODEFLOW_HOME"] = str(self.root)
        return Queue()

    def wait_for(self, test: Callable[[], bool], what: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not test():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            time.sleep(0.02)


@pytest.fixture
def home(tmp_path: Path, run_index: Path) -> Iterator[Home]:
    before = os.environ["NODEFLOW_HOME"]
    h = Home(tmp_path)
    yield h
    os.environ["NODEFLOW_HOME"] = before
    for proc in h.workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False, map_location="cpu")["model_state_dict"]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def epochs_ended(path: Path) -> int:
    try:
        return path.read_text().count('"event": "epoch_end"')
    except OSError:
        return 0
