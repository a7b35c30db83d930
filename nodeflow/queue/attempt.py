"""One try of a queued run: the `nodeflow run` command it is, and what its files say afterwards.

Every attempt is `nodeflow run SNAPSHOT --as WORKFLOW --events jsonl` in the folder `submit` ran
in, its events in RUN_FOLDER/attempt_N.jsonl and its errors in attempt_N.err. A later attempt
continues the same run: each Trainer's run folder is read from an earlier attempt's `fit_start`
event and pinned (`checkpoint_dir` set to it, `resume=auto`), so `{run}` can never pick another
run's folder; a Trainer that never reached `fit_start` had trained nothing and starts afresh
(one with a fixed folder continues it with `resume=auto`). Standard library only.
"""
from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nodeflow.core.printable import cut, printable
from nodeflow.queue.store import Row
from nodeflow.runs import index_dir


def snapshot(row: Row) -> Path:
    """The workflow as it was when submitted (the file may change or go away afterwards)."""
    return row.folder / "workflow.json"


def files(row: Row, n: int) -> tuple[Path, Path]:
    return row.folder / f"attempt_{n}.jsonl", row.folder / f"attempt_{n}.err"


def attempts(folder: Path) -> list[Path]:
    """The event files of every attempt so far, in order."""
    return sorted(folder.glob("attempt_*.jsonl"), key=lambda p: int(p.stem.split("_")[1]))


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON events of one attempt; a line cut short by a kill or anything not an event is left out."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("{") and line.endswith("\n"):
                    try:
                        event = json.loads(line)
                    except (ValueError, RecursionError):
                        continue
                    if isinstance(event, dict) and isinstance(event.get("event"), str):
                        yield event
    except OSError:
        return


def run_folders(folder: Path) -> dict[str, str]:
    """Trainer name -> its run folder, from the earlier attempts' fit_start events."""
    found: dict[str, str] = {}
    for path in attempts(folder):
        for event in read_events(path):
            if event["event"] == "fit_start" and isinstance(event.get("checkpoint_dir"), str) \
                    and isinstance(event.get("node"), str) and event["checkpoint_dir"]:
                found[event["node"]] = event["checkpoint_dir"]
    return found


def trainers(row: Row) -> dict[str, dict[str, Any]]:
    """Name -> params of every node with a run folder (a Trainer), with the run's --set applied to those two."""
    try:
        doc = json.loads(snapshot(row).read_text(encoding="utf-8"))
        nodes = [n for n in doc["nodes"].values() if "checkpoint_dir" in n["params"] and "resume" in n["params"]]
        found = {str(n["name"]): dict(n["params"]) for n in nodes}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return {}
    for override in row.overrides:
        key, _, value = override.partition("=")
        name, _, param = key.rpartition(".")
        if name in found:
            found[name][param] = value
    return found


def continuing(row: Row) -> list[str]:
    """The --set values that make a later attempt continue the same run folders."""
    folders, sets = run_folders(row.folder), []
    for name, params in trainers(row).items():
        folder = folders.get(name)
        if folder and params.get("layout") == "experiments":
            sets += [f"{name}.checkpoint_dir={Path(folder).parent}", f"{name}.experiment_name={Path(folder).name}"]
        elif folder:
            sets.append(f"{name}.checkpoint_dir={folder}")
        elif "{" in str(params.get("checkpoint_dir", "{")) or not params.get("checkpoint_dir"):
            continue  # never reached its folder: nothing trained, a fresh start loses nothing
        sets.append(f"{name}.resume=auto")
    return sets


def arguments(row: Row, n: int, device: str) -> list[str]:
    """`nodeflow run` arguments for attempt `n` on `device` ('' leaves the workflow's own)."""
    args = ["run", str(snapshot(row)), "--as", row.workflow, "--events", "jsonl"]
    for value in [*row.overrides, *(continuing(row) if n > 1 else [])]:
        args += ["--set", value]
    return [*args, "--device", device] if device else args


def child_setup() -> None:
    """In the child before it starts: die with the process that started it (Linux), so a killed worker
    never leaves a run training on unseen; ignore SIGUSR2, Slurm's early warning, which is the job's to handle."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def record_ids(pid: int, since: float) -> list[str]:
    """The run records a `nodeflow run` process `pid` started after `since` wrote (run index ids)."""
    earliest = time.strftime("%Y%m%d-%H%M%S", time.localtime(since - 2))
    found = []
    for path in sorted(index_dir().glob("*.json")):
        if path.stem < earliest:
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(record, dict) and record.get("pid") == pid and isinstance(record.get("id"), str):
            found.append(record["id"])
    return found


def last_error(path: Path) -> str:
    """The attempt's one-line error (its last `error:` line, else its last line), made safe to print."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith("error:")]
    return printable(cut((errors or lines or [""])[-1], 300))


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def pid_of(child: str) -> int | None:
    pid = child.partition(":")[0]
    return int(pid) if pid.isdigit() and int(pid) != os.getpid() else None
