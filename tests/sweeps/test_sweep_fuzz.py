"""Tampered studies: a real small study's SQLite tables edited hundreds of ways (param values and
distributions, trial values, attributes of the wrong type, missing rows, random bytes, a truncated
file), each run through `sweep show` and `sweep show --apply-best`. Every outcome is exit 0 or a
one-line error with exit 2; nothing outside the case's folder changes (the study's recorded `dir`
and workflow point outside it); a written workflow differs from the study's own only in the swept
params, each inside the range the sweep declared."""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.reliability.test_fuzz_workflows import cli

CASES = 100
SEED = int.from_bytes(os.urandom(4), "little") if os.environ.get("NODEFLOW_FUZZ_RANDOM") else 20261206
Edit = Callable[[sqlite3.Connection, random.Random, Path], None]

ODD_NUMBERS = [math.nan, math.inf, -math.inf, 1e308, -1e308, -1.0, 0.0, 0.5, 1.5, 2.0, 5.0, 1e9, 1e-12, None,
               "text", b"\x00\xff"]
ODD_JSON = ["1", "-3", "1.5", "true", "null", "[]", "{}", '""', '"x"', '[1, 2]', '{"a": []}', "not json", "",
            '"' + "a" * 5000 + '"', "[" * 2000, '{"Trainer.lr": 5}', '{"Trainer.lr": "loguniform:1e-4:3e-2"}',
            '{"Trainer.checkpoint_dir": "choice:/tmp/x", "Trainer.lr": "loguniform:1e-4:3e-2"}',
            '{"../x": "choice:1"}', '"val_bogus"', '"Trainer.val_accuracy"', "NaN", "Infinity"]
ODD_DISTRIBUTIONS = [
    "{}", "not json", '{"name": "Nope", "attributes": {}}',
    '{"name": "CategoricalDistribution", "attributes": {"choices": []}}',
    '{"name": "CategoricalDistribution", "attributes": {"choices": ["/tmp/evil", "x"]}}',
    '{"name": "CategoricalDistribution", "attributes": {"choices": [8, 32, 4096]}}',
    '{"name": "CategoricalDistribution", "attributes": {"choices": [true, false]}}',
    '{"name": "CategoricalDistribution", "attributes": {"choices": [[1], {"a": 1}]}}',
    '{"name": "FloatDistribution", "attributes": {"step": null, "low": 10.0, "high": 1.0, "log": false}}',
    '{"name": "FloatDistribution", "attributes": {"step": null, "low": -1e308, "high": 1e308, "log": false}}',
    '{"name": "IntDistribution", "attributes": {"step": 1, "low": 0, "high": 100000, "log": false}}',
    '{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.0001, "high": 0.03, "log": true}}',
    '{"name": "IntDistribution", "attributes": {"step": 0, "low": 1, "high": 2, "log": false}}',
]
ODD_TEXT = ["BOGUS", "", "RUNNING", "WAITING", "FAIL", "PRUNED", "NOT_SET", "MAXIMIZE", "garbage date", "2026-13-45"]


def _param(db: sqlite3.Connection, rng: random.Random, _: Path) -> None:
    column, values = rng.choice([("param_value", ODD_NUMBERS), ("distribution_json", ODD_DISTRIBUTIONS),
                                 ("param_name", ["Trainer.checkpoint_dir", "Trainer.overwrite", "Nope.x", "", "x"])])
    db.execute(f"UPDATE trial_params SET {column} = ? WHERE param_id = ?", (rng.choice(values), rng.randint(1, 4)))


def _extra_param(db: sqlite3.Connection, rng: random.Random, outside: Path) -> None:
    name, dist = rng.choice([("Trainer.checkpoint_dir", json.dumps({"name": "CategoricalDistribution", "attributes":
                                                                     {"choices": [str(outside / "ck")]}})),
                             ("Trainer.overwrite", '{"name": "CategoricalDistribution", "attributes": '
                                                   '{"choices": [true]}}'),
                             ("Trainer.epochs", '{"name": "IntDistribution", "attributes": '
                                                '{"step": 1, "low": 1, "high": 1000000, "log": false}}')])
    db.execute("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) VALUES (?, ?, 0, ?)",
               (rng.randint(1, 2), name, dist))


def _value(db: sqlite3.Connection, rng: random.Random, _: Path) -> None:
    table = rng.choice(["trial_values", "trial_intermediate_values"])
    column = "intermediate_value" if table == "trial_intermediate_values" else "value"
    if rng.random() < 0.3:
        db.execute(f"UPDATE {table} SET {column}_type = ?", (rng.choice(["INF_POS", "INF_NEG", "NAN", "BOGUS"]),))
    db.execute(f"UPDATE {table} SET {column} = ? WHERE trial_id = ?", (rng.choice(ODD_NUMBERS), rng.randint(1, 2)))


def _study_attr(db: sqlite3.Connection, rng: random.Random, outside: Path) -> None:
    key = rng.choice(["workflow", "params", "metric", "dir"])
    value = rng.choice(ODD_JSON + [json.dumps(str(outside)), json.dumps(str(outside / "wine.json")),
                                   json.dumps("../../outside"), json.dumps("/dev/zero"), json.dumps("/proc")])
    db.execute("UPDATE study_user_attributes SET value_json = ? WHERE key = ?", (value, key))


def _trial_attr(db: sqlite3.Connection, rng: random.Random, outside: Path) -> None:
    key = rng.choice(["worker", "outcome", "retry_of", "anything"])
    value = rng.choice(ODD_JSON + ['{"run_id": 5}', '{"pid": "x"}', '{"pruned_after_epoch": "x"}',
                                   json.dumps({"checkpoint_dir": str(outside)}), '{"error": ["a"]}'])
    db.execute("INSERT OR REPLACE INTO trial_user_attributes (trial_id, key, value_json) VALUES (?, ?, ?)",
               (rng.randint(1, 2), key, value))


def _rows(db: sqlite3.Connection, rng: random.Random, _: Path) -> None:
    table = rng.choice(["study_user_attributes", "trial_values", "trial_params", "trials", "study_directions",
                        "studies", "version_info", "trial_intermediate_values", "trial_user_attributes"])
    if rng.random() < 0.15:
        db.execute(f"DROP TABLE {table}")
    else:
        db.execute(f"DELETE FROM {table} WHERE rowid = (SELECT min(rowid) FROM {table})")


def _columns(db: sqlite3.Connection, rng: random.Random, _: Path) -> None:
    table, column = rng.choice([("study_directions", "direction"), ("trials", "state"), ("trials", "number"),
                                ("trials", "datetime_start"), ("trials", "datetime_complete"),
                                ("version_info", "schema_version"), ("studies", "study_name")])
    value = rng.choice(ODD_TEXT + [-1, 0, 1, 10**12, None, 1.5])
    db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = (SELECT min(rowid) FROM {table})", (value,))


EDITS: list[Edit] = [_param, _param, _extra_param, _value, _value, _study_attr, _study_attr, _trial_attr, _rows,
                     _columns]


def _file(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    how = rng.choice(["random", "truncate", "flip", "empty"])
    if how == "random":
        data = rng.randbytes(rng.choice([0, 16, 4096, len(data)]))
    elif how == "truncate":
        data = data[:rng.randrange(len(data))]
    elif how == "flip":
        data = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(100, len(data))] = rng.randrange(256)
        data = bytes(data)
    else:
        data = b""
    path.write_bytes(data)


def tamper(case: Path, rng: random.Random, outside: Path) -> str:
    """One edit of the study in `case`; what was done, for the failure message."""
    db_path = case / "sweeps" / "wine" / "study.db"
    if rng.random() < 0.12:
        _file(db_path, rng)
        return "file"
    edit = rng.choice(EDITS)
    db = sqlite3.connect(db_path)
    try:
        edit(db, rng, outside)
        db.commit()
    except sqlite3.Error:
        pass  # an edit the schema refuses (a constraint): the study is left as it was
    finally:
        db.close()
    return edit.__name__


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def test_tampered_studies_are_shown_or_refused_in_one_line(built_study: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "wine.json").write_text((built_study / "wine.json").read_text())
    built_before, outside_before = tree(built_study), tree(outside)
    own = json.loads((built_study / "wine.json").read_text())["nodes"]
    rng = random.Random(SEED)
    seen: dict[tuple[str, int], int] = {}
    for n in range(CASES):
        case = tmp_path / f"case_{n}"
        shutil.copytree(built_study / "sweeps", case / "sweeps",
                        ignore=shutil.ignore_patterns("trial_*", "*.png", "*.csv", "*.lock"))
        what = tamper(case, rng, outside)
        for args in (["sweep", "show", "wine"], ["sweep", "show", "wine", "--apply-best", "best.json"]):
            code, out, err = cli(*args, cwd=case)
            where = f"case {n} ({what}, seed {SEED}): {' '.join(args)} -> {code}\n{err}"
            assert code in (0, 2) and "Traceback" not in err + out, where
            if code == 2:
                assert len(err.splitlines()) == 1 and err.startswith("error: "), where
            seen[what, code] = seen.get((what, code), 0) + 1
        best = case / "best.json"
        if best.exists():
            _assert_own_params(json.loads(best.read_text())["nodes"], own, where)
    assert tree(built_study) == built_before and tree(outside) == outside_before  # nothing outside changed
    assert sorted(os.listdir(tmp_path)) == sorted(["outside", *(f"case_{n}" for n in range(CASES))])
    assert seen.get(("_param", 2)) and seen.get(("_study_attr", 2)) and seen.get(("file", 2)), seen
    assert sum(v for (_, code), v in seen.items() if code == 0) >= 20, seen  # some edits leave a study to show


def _assert_own_params(written: dict, own: dict, where: str) -> None:
    """Only the swept params differ from the study's own workflow, each inside its declared range."""
    for key, node in own.items():
        changed = {k for k in node["params"] if written[key]["params"].get(k) != node["params"][k]}
        allowed = {"lr", "batch_size"} if key == "trainer" else set()
        assert changed <= allowed and written[key]["type"] == node["type"], (key, changed, where)
    params = written["trainer"]["params"]
    assert 1e-4 <= params["lr"] <= 3e-2 and params["batch_size"] in (8, 32), (params, where)
