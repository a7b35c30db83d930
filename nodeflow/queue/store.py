"""The queue: one SQLite file, $NODEFLOW_HOME/queue/queue.db, in write-ahead-log mode.

Every change is one transaction under SQLite's write lock (BEGIN IMMEDIATE), so workers, the CLI
and the editor share one queue and two workers never take the same run; a commit is fsynced
(synchronous=FULL), so a run the CLI said it queued survives a crash of the machine too. Each run's
files (the workflow as submitted, every attempt's events and errors, a Slurm job's files) live in
$NODEFLOW_HOME/queue/runs/ID/.

States: queued -> running -> done | failed | cancelled; paused runs wait until resumed; a Slurm run
is `slurm` from its submission until its job's outcome is read back. Standard library only.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from nodeflow.core.errors import Issue, UserError

FORMAT = 1  # PRAGMA user_version of a queue database
WAITING, FINAL = ("queued", "paused"), ("done", "failed", "cancelled")
STATES = (*WAITING, "running", "slurm", *FINAL)
MAX_CRASHES = 3  # a run whose process (or its worker) was killed this often is failed, not retried
STALE_SECONDS = 60.0  # a worker on another machine without a heartbeat this long is taken as dead

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    position REAL NOT NULL,
    state TEXT NOT NULL,
    target TEXT NOT NULL,
    workflow TEXT NOT NULL,
    cwd TEXT NOT NULL,
    overrides TEXT NOT NULL DEFAULT '[]',
    device TEXT NOT NULL DEFAULT '',
    slurm TEXT NOT NULL DEFAULT '{}',
    submitted REAL NOT NULL,
    started REAL,
    ended REAL,
    worker TEXT NOT NULL DEFAULT '',
    child TEXT NOT NULL DEFAULT '',
    heartbeat REAL,
    slot TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    crashes INTEGER NOT NULL DEFAULT 0,
    wanted TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    run_ids TEXT NOT NULL DEFAULT '[]',
    job_id TEXT NOT NULL DEFAULT ''
)"""


@dataclass
class Row:
    """One queued run, every column typed (the file may have been edited by hand)."""

    id: int
    position: float
    state: str
    target: str  # local | slurm
    workflow: str  # the workflow file as submitted (relative inputs resolve from its folder)
    cwd: str  # where `submit` ran: relative checkpoint folders resolve from here
    overrides: list[str]
    device: str  # '' (any) or what --device asked for
    slurm: dict[str, Any]
    submitted: float
    started: float | None
    ended: float | None
    worker: str  # host:pid:start of the worker running it
    child: str  # pid:start of its `nodeflow run` process
    heartbeat: float | None
    slot: str  # the device it runs on
    attempts: int
    crashes: int
    wanted: str  # cancel | pause, asked of a running run
    reason: str
    run_ids: list[str]
    job_id: str

    @property
    def folder(self) -> Path:
        return runs_folder() / str(self.id)


def home() -> Path:
    return Path(os.environ.get("NODEFLOW_HOME") or Path.home() / ".nodeflow")


def runs_folder() -> Path:
    return home() / "queue" / "runs"


def identity(pid: int) -> str:
    """`pid:start`: the process's start time (clock ticks since boot) tells a reused pid apart."""
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = ""
    return f"{pid}:{start}"


def alive(pid_start: str) -> bool:
    pid, _, start = pid_start.partition(":")
    if not pid.isdigit():
        return False
    if start:
        return identity(int(pid)) == pid_start
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def this_worker() -> str:
    return f"{socket.gethostname()}:{identity(os.getpid())}"


def worker_gone(row: Row, now: float) -> bool:
    """Whether the worker that took `row` is dead: on this machine asked directly, elsewhere by its heartbeat."""
    host, _, pid_start = row.worker.partition(":")
    if host == socket.gethostname():
        return not alive(pid_start)
    return row.heartbeat is None or now - row.heartbeat > STALE_SECONDS


class Queue:
    """The queue database; every method is one transaction."""

    def __init__(self, path: Path | None = None):
        self.path = path or home() / "queue" / "queue.db"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout = 60000")
            if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            with self.transaction():
                version = self.db.execute("PRAGMA user_version").fetchone()[0]
                if version not in (0, FORMAT):
                    raise UserError(Issue(f"queue format {version}; this NodeFlow reads format {FORMAT}",
                                          file=str(self.path)))
                self.db.execute(SCHEMA)
                self.db.execute(f"PRAGMA user_version = {FORMAT}")
        except (OSError, sqlite3.Error) as exc:
            raise UserError(Issue(f"not a usable queue database ({exc})", file=str(self.path))) from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def add(self, on_insert: Callable[[Row], None] | None = None, **values: Any) -> Row:
        """A new run at the end of the queue; `on_insert` (writing its files) runs before anyone can see it."""
        with self.transaction() as db:
            last = db.execute("SELECT MAX(position) FROM runs").fetchone()[0]
            values = {**values, "position": (last or 0) + 1, "submitted": time.time()}
            cursor = db.execute(f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                                [_column(v) for v in values.values()])
            row = self.get(int(cursor.lastrowid or 0))
            if on_insert is not None:
                on_insert(row)
        return row

    def get(self, run_id: int) -> Row:
        found = self._select("WHERE id = ?", (run_id,))
        if not found:
            known = ", ".join(str(r.id) for r in self.rows()[-5:]) or "none"
            raise UserError(Issue(f"no queued run {run_id} (latest: {known})", field="ID", file=str(self.path)))
        return found[0]

    def rows(self) -> list[Row]:
        """Every run: the waiting ones in the order they will run, then the rest by id."""
        return self._select("ORDER BY state NOT IN ('queued', 'paused'), "
                            "CASE WHEN state IN ('queued', 'paused') THEN position ELSE id END, id")

    def update(self, run_id: int, **values: Any) -> None:
        with self.transaction() as db:
            db.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                       [*(_column(v) for v in values.values()), run_id])

    def change(self, run_id: int, states: tuple[str, ...], **values: Any) -> Row:
        """Set `values` on the run if its state is one of `states`; a UserError naming its state otherwise."""
        with self.transaction() as db:
            row = self.get(run_id)
            if row.state not in states:
                raise UserError(Issue(f"run {run_id} is {row.state}; this needs it {' or '.join(states)}",
                                      field="ID"))
            db.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                       [*(_column(v) for v in values.values()), run_id])
        return self.get(run_id)

    def claim(self, worker: str, device: str) -> Row | None:
        """The first queued local run this device may take, marked running by `worker`; None when there is none."""
        with self.transaction() as db:
            for row in self._select("WHERE state = 'queued' AND target = 'local' ORDER BY position, id"):
                if fits(row.device, device):
                    db.execute("UPDATE runs SET state = 'running', worker = ?, slot = ?, heartbeat = ?, child = '', "
                               "attempts = attempts + 1, started = COALESCE(started, ?) WHERE id = ?",
                               (worker, device, time.time(), time.time(), row.id))
                    return self.get(row.id)
        return None

    def move(self, run_id: int, place: int) -> Row:
        """Put a waiting run at `place` (1: next to run) among the waiting runs."""
        with self.transaction() as db:
            waiting = [r for r in self.rows() if r.state in WAITING]
            row = self.get(run_id)
            if row not in waiting:
                raise UserError(Issue(f"run {run_id} is {row.state}; only queued or paused runs move", field="ID"))
            if not 1 <= place <= len(waiting):
                raise UserError(Issue(f"must be 1 to {len(waiting)} (the waiting runs), got {place}",
                                      field="POSITION"))
            waiting.remove(row)
            waiting.insert(place - 1, row)
            for n, each in enumerate(waiting, 1):
                db.execute("UPDATE runs SET position = ? WHERE id = ?", (n, each.id))
        return self.get(run_id)

    def _select(self, where: str, args: tuple[Any, ...] = ()) -> list[Row]:
        names = [f.name for f in fields(Row)]
        return [_row(self.path, dict(zip(names, values)))
                for values in self.db.execute(f"SELECT {', '.join(names)} FROM runs {where}", args)]


def fits(asked: str, device: str) -> bool:
    """Whether a worker's device may take a run that asked for `asked` ('' or auto: any; cuda: any cuda:N)."""
    return asked in ("", "auto") or asked == device or asked == "cuda" and device.startswith("cuda")


def _column(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


KINDS: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "float | None": (int, float, type(None)),
                                      "str": (str,), "list[str]": (list,), "dict[str, Any]": (dict,)}


def _row(path: Path, values: dict[str, Any]) -> Row:
    """A Row from the database's values, each checked: a hand-edited file is one line naming the run and field."""
    for f in fields(Row):
        value = values[f.name]
        if f.type in ("list[str]", "dict[str, Any]"):
            try:
                value = values[f.name] = json.loads(value)
            except (TypeError, ValueError, RecursionError):
                value = None
        ok = isinstance(value, KINDS[str(f.type)]) and not isinstance(value, bool)
        if ok and f.type == "list[str]":
            ok = all(isinstance(v, str) for v in value)
        allowed = {"state": STATES, "target": ("local", "slurm")}.get(f.name)
        if not ok or allowed is not None and value not in allowed:
            raise UserError(Issue(f"run {values.get('id')}: {f.name} is {str(values[f.name])[:80]!r}, not a valid "
                                  f"value", file=str(path)))
    return Row(**values)
