"""What a sweep's default SQLite study already holds, read with the standard library (the editor asks
before it starts a sweep, without importing Optuna): the params, metric and workflow it was started
with, and how many trials count towards its total (as nodeflow.sweep.study.taken counts them)."""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeflow.core.errors import UserError
from nodeflow.sweep.study_db import check_sqlite, plain_name

COUNTED = ("COMPLETE", "PRUNED", "RUNNING", "FAIL")


@dataclass(frozen=True)
class Existing:
    marks: dict[str, Any]  # workflow, params (NODE.FIELD -> range text), metric, dir
    trials: int


def existing_study(folder: Path, name: str) -> Existing | None:
    """The study `name` in `folder`/sweeps/NAME/study.db, or None when there is none (or it cannot be read)."""
    try:
        plain_name(name)
    except UserError:
        return None  # not a study's name: the sweep command says why
    path = folder / "sweeps" / name / "study.db"
    if not path.is_file():
        return None
    try:
        check_sqlite(path, name)  # a SQLite study of bounded size, or nothing to show
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            found = db.execute("SELECT study_id FROM studies WHERE study_name = ?", (name,)).fetchone()
            if found is None:
                return None
            marks = {key: json.loads(value) for key, value in db.execute(
                "SELECT key, value_json FROM study_user_attributes WHERE study_id = ?", found)}
            states = db.execute("SELECT trial_id, number, state FROM trials WHERE study_id = ?", found).fetchall()
            retried = {json.loads(v) for (v,) in db.execute(
                "SELECT a.value_json FROM trial_user_attributes a JOIN trials t ON a.trial_id = t.trial_id "
                "WHERE t.study_id = ? AND a.key = 'retry_of'", found) if v.isdigit()}
    except (UserError, sqlite3.Error, ValueError, TypeError, AttributeError, RecursionError):
        return None  # not a study this dialog can read: the sweep command says why
    counted = sum(1 for _, number, state in states
                  if state in COUNTED and not (state == "FAIL" and number in retried))
    return Existing(marks, counted)


def fresh_name(folder: Path, name: str) -> str:
    """`name`, or name_2, name_3 … : the first with no study folder under `folder`/sweeps."""
    candidate, n = name, 1
    while (folder / "sweeps" / candidate).exists():
        n += 1
        candidate = f"{name}_{n}"
    return candidate
