"""The run index: one JSON record per run, headless or from the editor, so runs can be listed and compared.

Records live in `$NODEFLOW_HOME/runs/<id>.json` (default `~/.nodeflow/runs/`), each
written atomically when the run starts, after every epoch and when it ends: id, workflow
file and hash, the workflow as run, the params that differ from the saved file, start,
end, status, final metrics by node, checkpoint folders, per-epoch curves, and per-step curves
(`steps`: by node, `train_loss` and `lr` as [step, value] pairs from the train_step events,
`val_loss` at the step of each epoch end; at most MAX_POINTS pairs each, evenly thinned), and for a
sweep's trial `sweep` ({study, trial, storage}; a trial its pruner stopped ends with status `pruned`).
A train_step alone rewrites the file at most every STEP_WRITE_SECONDS; other events at once.
Standard library only: the editor's Runs panel reads them without torch.
"""
from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.manifest import value_text
from nodeflow.core.errors import Issue, UserError
from nodeflow.core.files import atomic_write_text
from nodeflow.core.outputs import read_json
from nodeflow.core.printable import cut, printable
from nodeflow.run_record import MAX_RECORD, record_problem

Sink = Callable[[dict[str, Any]], None]

MAX_POINTS = 2000  # per-step pairs kept per curve: enough to draw, small enough to list many runs
STEP_WRITE_SECONDS = 10.0


def index_dir() -> Path:
    return Path(os.environ.get("NODEFLOW_HOME") or Path.home() / ".nodeflow") / "runs"


def new_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def flat_params(workflow_text: str) -> dict[str, Any]:
    """`Node.param` -> value for every node of a workflow's JSON text."""
    try:
        doc = json.loads(workflow_text) if workflow_text else {}
    except (ValueError, RecursionError):  # a record edited by hand: no params to show
        doc = {}
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    return {f"{n.get('name')}.{k}": v for n in (nodes or {}).values() if isinstance(n, dict)
            for k, v in (n.get("params") or {}).items()}


def changed_params(saved_text: str, run_text: str) -> dict[str, list[Any]]:
    """`Node.param` -> [saved value, value run with] for every param the run changed (--set, --resume, …)."""
    saved, ran = flat_params(saved_text), flat_params(run_text)
    return {k: [saved.get(k), v] for k, v in ran.items() if saved.get(k) != v}


def add_step(curves: dict[str, Any], step: int, loss: float, lr: float) -> None:
    """Keep every `every`-th train_step point; past MAX_POINTS drop every other one and keep half as many."""
    seen = curves["seen"] = curves.get("seen", 0) + 1
    every = curves.setdefault("every", 1)
    if (seen - 1) % every:
        return
    for key, value in (("train_loss", loss), ("lr", lr)):
        curves.setdefault(key, []).append([step, float(f"{value:.6g}")])
    if len(curves["train_loss"]) > MAX_POINTS:
        curves["every"] = every * 2
        for key in ("train_loss", "lr"):
            curves[key] = curves[key][::2]


def add_val(curves: dict[str, Any], step: int, value: float) -> None:
    points = curves.setdefault("val_loss", [])
    points.append([step, value])
    if len(points) > MAX_POINTS:
        curves["val_loss"] = points[::2]


class RunRecorder:
    """An event tap: forwards every event and keeps the run's record on disk up to date.

    The index is a convenience: when it cannot be written the run goes on and says so once.
    """

    def __init__(self, sink: Sink, record: dict[str, Any]):
        self.sink = sink
        self.record = {"id": new_id(), "created": time.time(), "status": "running", "pid": os.getpid(),
                       "metrics": {}, "checkpoints": {}, "history": {}, **record}
        self.path = index_dir() / f"{self.record['id']}.json"
        self.failed = False
        self.written = 0.0  # time.monotonic() of the last write

    def __call__(self, event: dict[str, Any]) -> None:
        self.sink(event)
        kind, node = event["event"], event.get("node", "")
        if kind == "run_start":
            self.record["started"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(event["time"]))
        elif kind == "fit_start" and event.get("checkpoint_dir"):
            self.record["checkpoints"][node] = os.path.abspath(event["checkpoint_dir"])  # the index is global
        elif kind == "epoch_end":
            curves = self.record["history"].setdefault(node, {})
            if isinstance(event.get("epoch"), int):  # a resumed run's curves start at its first new epoch
                self.record.setdefault("first_epoch", {}).setdefault(node, event["epoch"])
            for key, value in event.get("metrics", {}).items():
                curves.setdefault(key, []).append(value)
            self.record["metrics"][node] = dict(event.get("metrics", {}))
            if "step" in event and isinstance(event.get("metrics", {}).get("val_loss"), (int, float)):
                add_val(self.record.setdefault("steps", {}).setdefault(node, {}), event["step"],
                        event["metrics"]["val_loss"])
        elif kind == "train_step":
            add_step(self.record.setdefault("steps", {}).setdefault(node, {}), event["step"], event["loss"],
                     event["lr"])
            if time.monotonic() - self.written < STEP_WRITE_SECONDS:
                return
        elif kind == "metrics":
            self.record["metrics"][node] = dict(event["metrics"])
        elif kind == "result":  # what a node shows as its result: generated text, an overlay picture
            self.record.setdefault("results", {})[node] = {k: event[k] for k in ("summary", "text", "image")
                                                           if k in event}
        elif kind == "run_end":
            self.record.update(status=event["status"], seconds=event.get("seconds"),
                               ended=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(event["time"])))
        else:
            return
        self._write()

    def _write(self) -> None:
        if self.failed:
            return
        self.written = time.monotonic()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(self.record, indent=1, default=str) + "\n")
        except OSError as exc:
            self.failed = True
            self.sink({"event": "log", "time": time.time(), "node": "",
                       "message": f"run history not recorded ({self.path.parent}: {exc.strerror or exc})"})


def load_runs(skipped: list[str] | None = None) -> list[dict[str, Any]]:
    """Every readable record, oldest first (by the time each started, to the microsecond: runs started in
    the same second are not ordered by their ids' random part); a run whose process is gone while
    'running' shows as 'died'.

    A file that is not a run record (unreadable, not JSON, a field of the wrong type) is left out,
    with one line naming the file and field added to `skipped`."""
    runs = []
    for path in sorted(index_dir().glob("*.json")):
        record = read_json(path, MAX_RECORD)
        problem = "not a readable JSON file under 16 MiB" if record is None else record_problem(record)
        if problem is not None:
            if skipped is not None:
                skipped.append(printable(cut(f"{path}: left out, {problem}", 400)))
            continue
        if record.get("status") == "running" and not _alive(record.get("pid")):
            record["status"] = "died"
        runs.append(record)
    return sorted(runs, key=_started)


def _started(record: dict[str, Any]) -> tuple[float, str]:
    """When a run started: its record's `created` time; a record without one (written by an older
    NodeFlow), the second its id names."""
    created = record.get("created")
    if isinstance(created, (int, float)):
        return float(created), record["id"]
    try:
        return time.mktime(time.strptime(record["id"][:15], "%Y%m%d-%H%M%S")), record["id"]
    except ValueError:
        return 0.0, record["id"]


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_run(key: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose id is `key` or starts with it; a UserError naming the candidates otherwise."""
    found = [r for r in runs if r["id"] == key] or [r for r in runs if r["id"].startswith(key)]
    if len(found) == 1:
        return found[0]
    known = ", ".join(r["id"] for r in (found or runs[-5:])) or "none yet"
    what = "is ambiguous" if found else "is not a recorded run"
    raise UserError(Issue(f"{key!r} {what} (runs: {known})", field="RUN"))


def final_metrics(record: dict[str, Any]) -> dict[str, Any]:
    """`Node.metric` -> value of the run's last reported metrics."""
    return {f"{node}.{k}": v for node, metrics in (record.get("metrics") or {}).items()
            for k, v in metrics.items() if not isinstance(v, (list, dict))}


def compare_table(records: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Rows (label, one cell per run): every param that differs between the runs, then every final metric."""
    params = [flat_params(r.get("workflow_text") or "") for r in records]
    keys = sorted({k for p in params for k in p})
    differ = [k for k in keys if len({json.dumps(p.get(k)) for p in params}) > 1]
    rows = [(k, [value_text(p.get(k)) for p in params]) for k in differ]
    metrics = [final_metrics(r) for r in records]
    rows.append(("final metrics:", [""] * len(records)))
    rows += [(k, [value_text(m.get(k)) for m in metrics]) for k in sorted({k for m in metrics for k in m})]
    return rows
