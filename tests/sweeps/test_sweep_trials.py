"""Pruning, two workers on one study, a killed sweep continued, and Optuna kept out of start-up."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nodeflow import cli
from nodeflow.runs import load_runs
from tests.conftest import ROOT
from nodeflow.sweep.study import attrs
from tests.sweeps.conftest import load, small_workflow


def test_a_pruned_trial_stops_at_an_epoch_end_and_keeps_its_last_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    wine = small_workflow(tmp_path, epochs=3)
    monkeypatch.chdir(tmp_path)
    # grid seed 1 runs lr 0.01 first; then lr 1e-7 is far behind it after epoch 1 (one complete trial suffices)
    assert cli.main(["sweep", str(wine), "--param", "Trainer.lr=choice:0.01,1e-7", "--sampler", "grid", "--seed", "1",
                     "--pruner", "median:1", "--trials", "2"]) == 0
    out = capsys.readouterr().out
    good, slow = load(tmp_path).trials
    assert good.params["Trainer.lr"] == 0.01 and good.state.name == "COMPLETE"
    assert slow.state.name == "PRUNED" and sorted(slow.intermediate_values) == [1]
    folder = tmp_path / "sweeps" / "wine" / "trial_1"
    assert (folder / "checkpoint_epoch_1.pt").is_file() and not (folder / "checkpoint_epoch_2.pt").exists()
    last = Path(attrs(slow)["last_checkpoint"])
    assert last.is_file() and "interrupt" in last.name
    import torch

    state = torch.load(last, weights_only=True)
    assert (state["epoch"], state["batch_in_epoch"]) == (1, 0)  # stopped at the epoch's end, no batch more
    assert "trial 1: Trainer.lr=1e-07 -> pruned after epoch 1 of 3" in out and str(last) in out
    record = next(r for r in load_runs() if r["id"] == attrs(slow)["run_id"])
    assert record["status"] == "pruned" and record["sweep"] == {"study": "wine", "trial": 1,
                                                                  "storage": "sqlite:///sweeps/wine/study.db"}
    assert cli.main(["ckpt", "verify", str(folder)]) == 0


def _sweep(wine: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "sweep", str(wine), "--param",
                             "Trainer.lr=loguniform:1e-4:3e-2", "--pruner", "none", *extra],
                            cwd=wine.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_workers_share_one_sqlite_study_without_running_a_trial_twice(tmp_path: Path) -> None:
    wine = small_workflow(tmp_path, epochs=2)
    workers = [_sweep(wine, "--trials", "6"), _sweep(wine, "--trials", "6")]
    printed = []  # each worker's own `trial N: ...` lines
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
        printed.append([int(line.split(":")[0].split()[1]) for line in out.splitlines() if line.startswith("trial ")])
    trials = load(tmp_path).trials
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(6)) and all(t.state.name == "COMPLETE" for t in trials)
    # however the two were scheduled: each trial names the worker process that ran it, and that worker
    # printed it; no trial was printed by both
    by_pid = {w.pid: set(p) for w, p in zip(workers, printed)}
    assert all(t.number in by_pid[attrs(t)["pid"]] for t in trials), (by_pid, [attrs(t) for t in trials])
    assert sorted(printed[0] + printed[1]) == list(range(6))
    ran = [r["sweep"]["trial"] for r in load_runs() if str(tmp_path) in str(r.get("workflow"))]
    assert sorted(ran) == list(range(6))  # one run per trial: none ran twice
    folders = sorted(p.name for p in (tmp_path / "sweeps" / "wine").glob("trial_*"))
    assert folders == [f"trial_{n}" for n in range(6)]


def test_a_killed_sweep_continues_and_runs_the_killed_trial_again(tmp_path: Path) -> None:
    wine = small_workflow(tmp_path, epochs=2)
    first = _sweep(wine, "--trials", "2", "--events", "jsonl")
    assert first.stdout is not None
    for line in first.stdout:  # kill it as soon as a trial is running
        if json.loads(line).get("event") == "trial_start":
            os.kill(first.pid, signal.SIGKILL)
            break
    first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    assert [t.state.name for t in load(tmp_path).trials] == ["RUNNING"]
    again = _sweep(wine, "--trials", "2")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "trial 0: its process died; marked failed, its params run again" in out
    killed, retry, new = load(tmp_path).trials
    assert killed.state.name == "FAIL" and "died" in attrs(killed)["error"]
    assert attrs(retry)["retry_of"] == 0 and retry.params == killed.params and retry.state.name == "COMPLETE"
    assert new.state.name == "COMPLETE"  # the failed trial did not count: two complete, as asked


def test_start_up_imports_neither_optuna_nor_matplotlib() -> None:
    code = ("import sys, nodeflow.cli; nodeflow.cli.build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'optuna', 'matplotlib', 'sqlalchemy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert out.strip() == "[]"
