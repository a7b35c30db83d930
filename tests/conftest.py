"""Shared helpers: run the real CLI in a child process, build small workflows."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from tests.warm_child import Started, kill_leftovers, run_main

# One torch thread per process: the suite runs in two worker processes (pytest-xdist) on two cores,
# and each spawns training children; two threads each made them contend (a digits epoch took 50-100 s
# instead of 3 s on a busy two-core machine). Set before any test imports torch; children inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"


def bare_env() -> dict[str, str]:
    """A child's environment with nothing of ours but the import path, one torch thread and the tests' run index."""
    return {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1",
            "NODEFLOW_HOME": os.environ["NODEFLOW_HOME"]}


def run_cli(*args: str, cwd: Path, timeout: float = 300, fresh: bool = False) -> subprocess.CompletedProcess[str]:
    """`python main.py ARGS` in a child process, as a user would type it. The child is forked from a
    warm one that has imported torch and NodeFlow (tests/warm_child.py); `fresh` starts a new interpreter,
    for what happens at start-up."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    if not fresh:
        return run_main([os.fspath(a) for a in args], cwd, env, timeout)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Started:
    """`python main.py ARGS` started as with subprocess.Popen (stdout and stderr piped, text), from the
    warm interpreter run_cli uses: for tests that read the output while the run goes on, signal or kill it."""
    env = env or {**os.environ, "PYTHONPATH": str(ROOT)}
    return Started([os.fspath(a) for a in args], cwd, env)


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def build_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder `build` fills once per test session, whichever xdist worker asks first; the other waits
    and reuses it (a module fixture is otherwise built again in each worker its tests are spread over).
    For trained runs that tests read, or copy before they change anything."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder = root / "built_once" / name
    folder.parent.mkdir(exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


@pytest.fixture(autouse=True, scope="session")
def run_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs started by the tests record themselves here, never in the user's ~/.nodeflow."""
    home = tmp_path_factory.mktemp("nodeflow_home")
    os.environ["NODEFLOW_HOME"] = str(home)
    return home / "runs"


@pytest.fixture(autouse=True)
def no_child_left() -> Iterator[None]:
    """After each test, kill any child it started with start_cli and left running."""
    yield
    kill_leftovers()


@pytest.fixture
def digits_workflow() -> Path:
    return WORKFLOWS / "digits_cnn.json"
