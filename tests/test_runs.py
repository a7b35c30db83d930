"""The run index: every run is recorded, listed and compared; a broken index never stops a run."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.conftest import ROOT, WORKFLOWS, run_cli, start_cli

DIGITS = str(WORKFLOWS / "digits_cnn.json")


def records(home: Path) -> list[dict]:
    return [json.loads(line) for line in run_cli("runs", "list", "--json", cwd=home).stdout.splitlines()]


def test_two_runs_are_recorded_and_compared_side_by_side(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    for lr in ("0.001", "0.01"):
        done = run_cli("run", DIGITS, "--set", "Trainer.epochs=2", "--set", f"Trainer.lr={lr}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    first, second = records(tmp_path)
    assert first["status"] == second["status"] == "completed"
    assert second["changed"] == {"Trainer.epochs": [20, 2], "Trainer.lr": [0.001, 0.01]}
    assert first["checkpoints"]["Trainer"] == str(tmp_path / "checkpoints/digits_cnn/run_1")  # from any folder
    assert second["checkpoints"]["Trainer"] == str(tmp_path / "checkpoints/digits_cnn/run_2")
    assert len(second["history"]["Trainer"]["val_loss"]) == 2 and "accuracy" in second["metrics"]["Evaluate"]
    listing = run_cli("runs", "list", cwd=tmp_path).stdout
    assert first["id"] in listing and "Trainer.lr=0.01" in listing
    compare = run_cli("runs", "compare", first["id"], second["id"][:17], cwd=tmp_path)
    assert compare.returncode == 0, compare.stderr
    lines = {line.split()[0]: line.split()[1:] for line in compare.stdout.splitlines() if line.strip()}
    assert lines["Trainer.lr"] == ["0.0010", "0.0100"] and "Trainer.epochs" not in lines  # same in both runs
    accuracy = [f"{r['metrics']['Evaluate']['accuracy']:.4f}" for r in (first, second)]
    assert lines["Evaluate.accuracy"] == accuracy
    show = run_cli("runs", "show", second["id"], cwd=tmp_path).stdout
    assert "Trainer.lr: 0.001 -> 0.01" in show and f"Trainer: {tmp_path}/checkpoints/digits_cnn/run_2" in show


def test_interrupted_and_killed_runs_say_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = start_cli("run", DIGITS, "--events", "jsonl", "--set", "Trainer.epochs=200", cwd=tmp_path, env=env)
        for line in proc.stdout:
            if '"epoch_end"' in line:
                break
        proc.send_signal(sig)
        proc.communicate(timeout=120)
    assert [r["status"] for r in records(tmp_path)] == ["interrupted", "died"]


def test_an_unknown_run_is_one_line_and_an_unwritable_index_never_stops_a_run(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "home").write_text("a file where the index folder should be")
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    done = run_cli("run", DIGITS, "--set", "Trainer.epochs=1", cwd=tmp_path)
    assert done.returncode == 0 and "run history not recorded" in done.stdout + done.stderr
    missing = run_cli("runs", "show", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "'nope' is not a recorded run" in missing.stderr


def test_runs_started_in_the_same_second_are_listed_in_the_order_they_started(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    for epochs in (1, 2, 3):
        done = run_cli("run", str(WORKFLOWS / "wine_mlp.json"), "--set", f"Trainer.epochs={epochs}",
                       "--set", "Trainer.checkpoint_dir=", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    index = tmp_path / "home" / "runs"
    started = sorted(index.glob("*.json"), key=lambda p: json.loads(p.read_text())["created"])
    for path, random_part in zip(started, ("ffff", "8888", "0000")):  # one second; the random parts reversed
        record = json.loads(path.read_text())
        record["id"] = f"20261207-120000-{random_part}"
        path.unlink()
        (index / f"{record['id']}.json").write_text(json.dumps(record))
    assert [len(r["history"]["Trainer"]["val_loss"]) for r in records(tmp_path)] == [1, 2, 3]
    newest = run_cli("runs", "show", "20261207-120000-0000", cwd=tmp_path).stdout
    assert "Trainer.epochs: 40 -> 3" in newest
