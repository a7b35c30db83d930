"""The Optuna study of a sweep: storage, sampler, pruner, and how many trials are still to run.

Studies live in a database (SQLite by default, in the sweep's folder; any URL Optuna's RDB
storage takes, e.g. postgresql://), so several `nodeflow sweep` processes on one or many
machines share one study: Optuna gives every trial its own number, and a process asks for a
trial only while fewer than `--trials` are finished or running.

With SQLite, workers take turns (a lock file beside the database) between counting the trials
and creating the next one, so together they never run more than `--trials`; on a server database
two workers finishing at the same instant can start one trial more than asked.

A trial whose process died (killed, machine lost) is marked FAIL and retried with the same
params as a new trial; the failed one does not count towards `--trials`. On the same machine a
restarted sweep sees at once that the trial's process is gone; elsewhere Optuna's heartbeat
notices it after GRACE_SECONDS. A trial that failed on its own (bad data, a diverged loss)
counts, so a broken workflow cannot make a sweep run forever.
"""
from __future__ import annotations

import inspect
import os
import socket
import warnings

try:
    import fcntl
except ImportError:  # Windows: no lock; see the module's note on server databases
    fcntl = None  # type: ignore[assignment]
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from nodeflow.core.errors import Issue, UserError
from nodeflow.sweep.space import Dim

HEARTBEAT_SECONDS, GRACE_SECONDS = 30, 120
optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is our one line, not its traceback
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def storage(url: str, read_only: bool = False) -> Any:
    """Optuna's RDB storage for `url`, with heartbeats so other machines can tell a dead worker
    (`read_only`: to read a study that exists; no tables created, no journal mode changed)."""
    if "://" not in url:
        raise UserError(Issue(f"expected a database URL such as sqlite:///sweep.db, got {url!r}", field="--storage"))
    kwargs: dict[str, Any] = {"heartbeat_interval": HEARTBEAT_SECONDS, "grace_period": GRACE_SECONDS}
    callback = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in \
        inspect.signature(optuna.storages.RDBStorage).parameters else "failed_trial_callback"
    kwargs[callback] = retry
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}  # workers wait for the lock
    if read_only and "skip_table_creation" in inspect.signature(optuna.storages.RDBStorage).parameters:
        kwargs["skip_table_creation"] = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable enough
            opened = optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)
    except Exception as exc:  # a wrong driver, host or path: one line
        raise UserError(Issue(f"cannot open {url}: {str(exc).splitlines()[0][:200]}", field="--storage")) from None
    if url.startswith("sqlite") and not read_only:
        from sqlalchemy import event

        event.listen(opened.engine, "connect", _fast_commits)
        opened.engine.dispose()  # the connections opened so far get the pragmas too
    return opened


def close(study: Any) -> None:
    """Let go of the study's database: its connections closed (SQLite folds its write-ahead log back
    into the file), nothing held open once a command is done with it."""
    backend = getattr(study._storage, "_backend", study._storage)
    backend.remove_session()
    backend.engine.dispose()


def _fast_commits(connection: Any, record: Any) -> None:
    """SQLite in write-ahead-log mode without an fsync per commit: a trial's reports and notes cost
    ~3-5 ms each instead of ~20-30 (a crash of the machine may lose the last commits, never the
    database). Workers on one machine share it; SQLite on a network folder is not for several machines."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sampler(name: str, dims: list[Dim], seed: int | None) -> Any:
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        space = {}
        for dim in dims:
            values = dim.grid()
            if values is None:
                raise UserError(Issue(f"--sampler grid needs choice: or int: values, not {dim.text!r}",
                                      node=dim.node, field=dim.field))
            space[dim.name] = values
        return optuna.samplers.GridSampler(space, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def pruner(text: str) -> Any:
    """`median[:STARTUP_TRIALS[:WARMUP_EPOCHS]]` or `none`."""
    name, *numbers = text.split(":")
    if name == "none" and not numbers:
        return optuna.pruners.NopPruner()
    try:
        startup, warmup = ([int(n) for n in numbers] + [5, 0][len(numbers):])[:2] if len(numbers) <= 2 else [-1, -1]
    except ValueError:
        startup = warmup = -1
    if name != "median" or startup < 0 or warmup < 0:
        raise UserError(Issue(f"expected median, median:STARTUP_TRIALS[:WARMUP_EPOCHS] or none, got {text!r}",
                              field="--pruner"))
    return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)


def suggest(trial: Any, dims: Iterable[Dim]) -> dict[str, Any]:
    values = {}
    for d in dims:
        if d.kind == "choice":
            values[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        elif d.param_type == "int":
            assert d.low is not None and d.high is not None  # a range dimension always has both bounds
            values[d.name] = trial.suggest_int(d.name, int(d.low), int(d.high), step=int(d.step or 1),
                                               log=d.kind == "loguniform")
        else:
            values[d.name] = trial.suggest_float(d.name, float(d.low), float(d.high),  # type: ignore[arg-type]
                                                 log=d.kind == "loguniform")
    return values


def retry(study: Any, trial: Any) -> None:
    """With SQLite, workers take turns (a lock file beside the database) between counting the trials
and creating the next one, so together they never run more than `--trials`; on a server database
two workers finishing at the same instant can start one trial more than asked.

A trial whose process died: the same params again, as a new trial."""
    study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


def retried(trials: list[Any]) -> set[int]:
    return {t.user_attrs["retry_of"] for t in trials if isinstance(t.user_attrs.get("retry_of"), int)}


def taken(study: Any) -> int:
    """Trials finished, failed on their own, or running now: what counts towards --trials.

    Read from the database itself: Optuna's in-process cache can miss a trial another process
    started while this one finished a later-numbered trial (seen with --jobs 2)."""
    storage = getattr(study._storage, "_backend", study._storage)
    trials = storage.get_all_trials(study._study_id, deepcopy=False)
    again = retried(trials)
    return sum(1 for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
               or (t.state == TrialState.FAIL and t.number not in again))


def fail_orphans(study: Any) -> list[int]:
    """Trials left RUNNING by a process of this machine that is gone: marked FAIL and retried."""
    host, found = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = attrs(t).get("pid")
        if attrs(t).get("host") != host or not isinstance(pid, int) or pid == os.getpid() or _alive(pid):
            continue
        try:
            died = {"error": f"its process ({host}, pid {pid}) died"}
            study._storage.set_trial_user_attr(t._trial_id, "outcome", died)
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:  # another worker got there first
            continue
        retry(study, t)
        found.append(t.number)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_folder(url: str) -> None:
    """The folder of a SQLite study's database, made when missing; one that cannot be made: UserError."""
    if not url.startswith("sqlite:///"):
        return
    path = Path(url[len("sqlite:///"):])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(Issue(f"cannot make the study's folder: {exc.strerror or exc}", file=str(path.parent),
                              field="--storage")) from None


class Turn:
    """The lock file beside a SQLite study: held from counting the trials until the next one exists."""

    def __init__(self, url: str):
        self.path = Path(url[len("sqlite:///"):] + ".lock") if url.startswith("sqlite:///") else None
        self.handle: Any = None

    def take(self) -> None:
        if self.path is None or self.handle is not None or fcntl is None:
            return
        try:
            if self.path.is_symlink():  # the lock is ours: never opened through a link
                raise OSError(0, "a link has its name")
            self.handle = open(self.path, "a")
        except OSError as exc:
            raise UserError(Issue(f"cannot open the lock file beside the study's database: {exc.strerror or exc}",
                                  file=str(self.path), field="--storage")) from None
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)

    def give(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def mark_worker(trial: Any, checkpoint_dir: str) -> None:
    """Who runs the trial, where: one write (each is a database commit)."""
    trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid(), "checkpoint_dir": checkpoint_dir})


def attrs(trial: Any) -> dict[str, Any]:
    """A trial's notes in one dict: its worker (host, pid, checkpoint_dir), its outcome (run_id,
    last_checkpoint, error, pruned_after_epoch) and retry_of."""
    notes = trial.user_attrs
    parts = [part for part in (notes.get("worker"), notes.get("outcome")) if isinstance(part, dict)]
    return {**notes, **{k: v for part in parts for k, v in part.items()}}

