"""A study's name and its SQLite file, checked with the standard library before Optuna opens them.

A study name becomes a folder under `sweeps/`, so it must be one plain name: no separator, no
`..`, nothing unprintable, bounded length. A SQLite study file is read-only checked first: that it
is a SQLite database holding Optuna's tables and the named study, with a bounded number of trials
and bounded attribute texts. Optuna would otherwise create its tables in any database it is
handed (writing into a file that is not a study) and load every row, however many, into memory.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from nodeflow.core.errors import Issue, UserError

NAME_LIMIT = 100  # characters of a study's name
TRIAL_LIMIT = 100_000  # trials one study may hold
TEXT_LIMIT = 1_000_000  # characters of one attribute's or distribution's JSON
TABLES = ("studies", "study_directions", "study_user_attributes", "study_system_attributes", "trials",
          "trial_params", "trial_values", "trial_user_attributes", "trial_system_attributes",
          "trial_intermediate_values", "trial_heartbeats", "version_info", "alembic_version")
HEADER = b"SQLite format 3\x00"


def plain_name(name: str, field: str = "--study") -> str:
    """`name` when it is one plain folder name for `sweeps/NAME`, else UserError naming `field`."""
    problem = ""
    if not name:
        problem = "is empty"
    elif len(name) > NAME_LIMIT:
        problem = f"is longer than {NAME_LIMIT} characters"
    elif "/" in name or "\\" in name:
        problem = "holds a path separator"
    elif ".." in name or name.startswith("."):
        problem = "starts with '.' or holds '..'"
    elif not name.isprintable():
        problem = "holds an unprintable character"
    if problem:
        raise UserError(Issue(f"a study's name {problem}; use a plain name such as digits_lr ({name[:120]!r})",
                              field=field))
    return name


def check_sqlite(path: Path, name: str) -> None:
    """Refuse (UserError naming the file and what is wrong) a file that is not a SQLite database
    holding Optuna's tables, the study `name`, at most TRIAL_LIMIT trials and attribute texts of at
    most TEXT_LIMIT characters. Opens it read-only: nothing is written."""
    label = str(path)
    try:
        if not path.is_file():
            raise UserError(Issue("no study database here; give --storage URL", file=label, field="--storage"))
        with path.open("rb") as handle:
            head = handle.read(len(HEADER))
    except OSError as exc:
        raise UserError(Issue(f"cannot read it: {exc.strerror}", file=label, field="--storage")) from None
    if head != HEADER:
        raise UserError(Issue("not a SQLite database", file=label, field="--storage"))
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise UserError(Issue(f"cannot open it: {exc}", file=label, field="--storage")) from None
    try:
        _check_tables(db, name, label)
    except sqlite3.Error as exc:
        raise UserError(Issue(f"not a readable study database: {exc}", file=label, field="--storage")) from None
    finally:
        db.close()


def _check_tables(db: sqlite3.Connection, name: str, label: str) -> None:
    found = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in TABLES if t not in found]
    if missing:
        raise UserError(Issue(f"not an Optuna study database: no table {missing[0]}", file=label, field=missing[0]))
    row = db.execute("SELECT study_id FROM studies WHERE study_name = ?", (name,)).fetchone()
    if row is None:
        names = [str(r[0])[:NAME_LIMIT] for r in db.execute("SELECT study_name FROM studies LIMIT 20")]
        raise UserError(Issue(f"no study {name!r} here (studies: {', '.join(names) or 'none'})",
                              file=label, field="STUDY"))
    count = db.execute("SELECT count(*) FROM trials WHERE study_id = ?", row).fetchone()[0]
    if count > TRIAL_LIMIT:
        raise UserError(Issue(f"{count} trials; a study holds at most {TRIAL_LIMIT}", file=label, field="trials"))
    _check_values(db, row[0], label)
    for table, column in (("study_user_attributes", "value_json"), ("trial_user_attributes", "value_json"),
                          ("trial_params", "distribution_json"), ("trial_params", "param_name")):
        longest = db.execute(f"SELECT max(length(CAST({column} AS BLOB))) FROM {table}").fetchone()[0]
        if isinstance(longest, int) and longest > TEXT_LIMIT:
            raise UserError(Issue(f"a {column} of {longest} bytes; at most {TEXT_LIMIT} are read",
                                  file=label, field=table))


def _check_values(db: sqlite3.Connection, study_id: int, label: str) -> None:
    """Each stored value is a number whose kind says so: FINITE with a number, INF_POS or INF_NEG (and
    NAN for a reported epoch) without one. A NaN written as a number is stored as NULL."""
    for table, column, kinds, field in (("trial_values", "value", ("INF_POS", "INF_NEG"), "value"),
                                        ("trial_intermediate_values", "intermediate_value",
                                         ("INF_POS", "INF_NEG", "NAN"), "intermediate_value")):
        bad = db.execute(
            f"SELECT t.number, v.{column}, v.{column}_type FROM {table} v JOIN trials t ON v.trial_id = t.trial_id "
            f"WHERE t.study_id = ? AND NOT ((v.{column}_type = 'FINITE' AND typeof(v.{column}) IN ('real', 'integer'))"
            f" OR (v.{column}_type IN ({', '.join('?' * len(kinds))}) AND v.{column} IS NULL)) LIMIT 1",
            (study_id, *kinds)).fetchone()
        if bad is not None:
            number, value, kind = bad
            shown = "no number (a NaN is stored so)" if value is None else repr(value)[:60]
            raise UserError(Issue(f"trial {number}: a {str(kind)[:20]} value holding {shown}", file=label,
                                  field=field))
