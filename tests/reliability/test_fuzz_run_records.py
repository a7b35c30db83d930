"""The run index is untrusted input: a record edited by hand or cut short (a wrong type at any
field, random bytes, a truncation, huge values) never breaks `runs list`, `show` or `compare`.
Each is listed with the others left out in one warning line, or refused in one line, exit 2."""
from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nodeflow.cli import main
from tests.conftest import ROOT, WORKFLOWS, build_once

WRONG = [None, 1, -1, 2.5, 1e308, True, "x", "\x1b[2J", "é" * 5000, [], [1], ["a", "b", "c"], {}, {"a": 1},
         {"a": [1, "x"]}, [[1, "x"]], [[1, 2, 3]], [None] * 3]


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The record a real two-epoch run wrote."""
    def build(folder: Path) -> None:
        subprocess.run([sys.executable, str(ROOT / "main.py"), "run", str(WORKFLOWS / "wine_mlp.json"),
                        "--set", "Trainer.epochs=2", "--set", "Trainer.checkpoint_dir="], cwd=folder, check=True,
                       capture_output=True, env={**os.environ, "NODEFLOW_HOME": str(folder / "home")})

    runs = build_once(tmp_path_factory, "run_record", build) / "home" / "runs"
    return json.loads(next(runs.glob("*.json")).read_text())


def fields(record: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every path to a value in the record, two levels into its objects."""
    paths = []
    for key, value in record.items():
        paths.append((key,))
        if isinstance(value, dict):
            for inner, deeper in value.items():
                paths.append((key, inner))
                if isinstance(deeper, dict):
                    paths += [(key, inner, k) for k in deeper]
    return paths


def cases(record: dict[str, Any]) -> list[bytes]:
    rng = random.Random(0)
    text = json.dumps(record).encode()
    made = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(10)]
    made += [text[:rng.randrange(len(text))] for _ in range(20)]
    made += [b"[" * 100000, b'{"id": "' + b"9" * 100000 + b'"}', json.dumps({"id": "x" * 100000}).encode()]
    for path in fields(record):
        for wrong in rng.sample(WRONG, 6):
            changed = json.loads(text)
            inner = changed
            for key in path[:-1]:
                inner = inner[key]
            inner[path[-1]] = wrong
            made.append(json.dumps(changed).encode())
    return made


def test_malformed_run_records_never_break_the_runs_commands(record: dict[str, Any], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    runs = tmp_path / "home" / "runs"
    runs.mkdir(parents=True)
    good = {**record, "id": "20260101-000000-good"}
    (runs / f"{good['id']}.json").write_text(json.dumps(good))
    made = cases(record)
    assert len(made) >= 200
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for n, content in enumerate(made):
        bad = runs / f"{record['id']}.json"
        bad.write_bytes(content)
        for command in (["list"], ["list", "--json"], ["show", record["id"]], ["compare", good["id"], record["id"]]):
            code = main(["runs", *command])
            out, err = capsys.readouterr()
            lines = err.splitlines()
            assert code in (0, 2) and len(lines) <= 1 and "Traceback" not in err, (n, command, err[:500])
            assert all(len(line) < 1000 and "\x1b" not in line for line in lines), (n, command, err[:500])
            assert "\x1b" not in out, (n, command)
            if command[0] == "list":  # the good run is always listed
                assert good["id"] in out, (n, command, out[:300])
    assert sorted(p.name for p in runs.iterdir()) == sorted([bad.name, f"{good['id']}.json"])  # nothing written
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300_000  # KiB


def test_a_record_left_out_is_named_with_its_field(record: dict[str, Any], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "runs").mkdir(parents=True)
    path = tmp_path / "home" / "runs" / f"{record['id']}.json"
    path.write_text(json.dumps({**record, "history": {"Trainer": {"val_loss": "low"}}}))
    assert main(["runs", "list"]) == 0
    out, err = capsys.readouterr()
    assert err == f"warning: {path}: left out, history.Trainer: not lists of values\n"
    assert "(no runs recorded yet)" in out
