"""`nodeflow sweep`: bad input refused before any trial, trials as recorded runs with verified
checkpoints, results and the best params written back, a study continued by the same command."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from nodeflow import cli
from nodeflow.runs import load_runs
from nodeflow.sweep.study import attrs
from tests.sweeps.conftest import LR, load, small_workflow


def sweep(*args: str) -> int:
    return cli.main(["sweep", *args])


@pytest.mark.parametrize("args, where, why", [
    (["--param", "Trainer.lrr=uniform:0:1"], "node 'Trainer' field 'lrr'", "unknown param"),
    (["--param", "Nope.lr=uniform:0:1"], "--param", "no node named 'Nope'"),
    (["--param", "Trainer.lr=loguniform:0:0.1"], "node 'Trainer' field 'lr'", "at least 1e-08"),
    (["--param", "Trainer.weight_decay=loguniform:0:0.1"], "node 'Trainer' field 'weight_decay'", "above 0"),
    (["--param", "Trainer.batch_size=int:0:8"], "node 'Trainer' field 'batch_size'", "at least 1"),
    (["--param", "Trainer.batch_size=choice:8,x"], "node 'Trainer' field 'batch_size'", "expected an integer"),
    (["--param", "Trainer.optimizer=uniform:0:1"], "node 'Trainer' field 'optimizer'", "needs a number param"),
    (["--param", "Trainer.lr=loguniform:1e-2:1e-4"], "node 'Trainer' field 'lr'", "LO must be below HI"),
    (["--param", "Trainer.checkpoint_dir=choice:a,b"], "node 'Trainer' field 'checkpoint_dir'", "is not searched"),
    (["--param", LR, "--metric", "val_bogus"], "field '--metric'", "unknown per-epoch metric"),
    (["--param", LR, "--sampler", "grid"], "node 'Trainer' field 'lr'", "grid needs choice"),
    (["--param", LR, "--pruner", "mean"], "field '--pruner'", "expected median"),
    (["--param", LR, "--set", "Trainer.epochs=zero"], "node 'Trainer' field 'epochs'", "expected an integer"),
    (["--param", LR, "--set", "Trainer.lr=0.01"], "field '--set'", "both fixed (--set) and searched"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_trial(wine: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], args: list[str],
                                                           where: str, why: str) -> None:
    monkeypatch.chdir(wine.parent)
    runs_before = len(load_runs())
    assert sweep(str(wine), *args, "--trials", "2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and where in err[0] and why in err[0], err
    assert not (wine.parent / "sweeps").exists()  # no study, no trial folder
    assert len(load_runs()) == runs_before


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three trials of two epochs, over lr and batch size, no pruning."""
    folder = tmp_path_factory.mktemp("sweep")
    wine = small_workflow(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        code = sweep(str(wine), "--param", LR, "--param", "Trainer.batch_size=choice:8,32", "--trials", "3",
                     "--pruner", "none", "--seed", "0")
    return {"folder": folder, "wine": wine, "code": code}


def test_set_fixes_a_param_in_every_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wine = small_workflow(tmp_path)  # 2 epochs in the file
    monkeypatch.chdir(tmp_path)
    assert sweep(str(wine), "--param", LR, "--set", "Trainer.epochs=1", "--trials", "2", "--pruner", "none") == 0
    for number in (0, 1):
        trial = tmp_path / "sweeps" / "wine" / f"trial_{number}"
        assert (trial / "checkpoint_epoch_1.pt").is_file() and not (trial / "checkpoint_epoch_2.pt").exists()


def test_each_trial_is_a_recorded_run_with_its_own_verified_checkpoints(done: dict[str, Any],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = done["folder"]
    assert done["code"] == 0
    study = load(folder)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    records = {r["sweep"]["trial"]: r for r in load_runs() if (r.get("sweep") or {}).get("study") == "wine"
               and str(folder) in str(r.get("workflow"))}
    monkeypatch.chdir(folder)
    for trial in study.trials:
        trial_dir = Path("sweeps/wine") / f"trial_{trial.number}"
        assert (trial_dir / "final_model.pt").is_file() and (trial_dir / "checkpoint_epoch_2.pt").is_file()
        assert cli.main(["ckpt", "verify", str(trial_dir)]) == 0
        record = records[trial.number]
        assert record["status"] == "completed" and record["checkpoints"] == {"Trainer": str(folder / trial_dir)}
        assert record["id"] == attrs(trial)["run_id"]
        assert record["metrics"]["Trainer"]["val_loss"] == pytest.approx(trial.value)
        ran = json.loads(record["workflow_text"])["nodes"]["trainer"]["params"]
        assert ran["lr"] == trial.params["Trainer.lr"] and ran["batch_size"] == trial.params["Trainer.batch_size"]


def test_show_prints_the_table_and_best_and_writes_results(done: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder = done["folder"]
    monkeypatch.chdir(folder)
    capsys.readouterr()
    assert sweep("show", "wine") == 0
    out = capsys.readouterr().out
    study = load(folder)
    best = study.best_trial
    assert out.count(" complete ") == 3 and "Trainer.lr" in out and "Trainer.batch_size" in out
    assert f"Best: trial {best.number}, val_loss {best.value:.4g}" in out
    results = folder / "sweeps" / "wine"
    with open(results / "sweep.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [float(r["val_loss"]) for r in table] == pytest.approx([t.value for t in study.trials])
    assert [r["state"] for r in table] == ["complete"] * 3
    assert (results / "importance.csv").read_text().splitlines()[0] == "param,importance"
    for name in ("history.png", "parallel.png"):
        assert (results / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_apply_best_writes_a_new_workflow_and_never_replaces_a_foreign_file(
        done: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    folder = done["folder"]
    monkeypatch.chdir(folder)
    best = load(folder).best_trial
    assert sweep("show", "wine", "--apply-best", "best.json") == 0
    params = json.loads((folder / "best.json").read_text())["nodes"]["trainer"]["params"]
    assert params["lr"] == best.params["Trainer.lr"] and params["batch_size"] == best.params["Trainer.batch_size"]
    assert cli.main(["validate", "best.json"]) == 0
    assert sweep("show", "wine", "--apply-best", "best.json") == 0  # ours: may be written again
    (folder / "mine.json").write_text("my notes\n")
    capsys.readouterr()
    assert sweep("show", "wine", "--apply-best", "mine.json") == 2
    captured = capsys.readouterr()
    assert "NodeFlow did not write it" in captured.err and captured.out == ""
    assert (folder / "mine.json").read_text() == "my notes\n"


def test_the_same_command_again_continues_the_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wine = small_workflow(tmp_path, epochs=1)
    monkeypatch.chdir(tmp_path)
    args = [str(wine), "--param", "Trainer.batch_size=choice:8,16,32", "--pruner", "none", "--seed", "1"]
    assert sweep(*args, "--trials", "2") == 0
    assert sweep(*args, "--trials", "2") == 0  # already there: nothing runs
    assert len(load(tmp_path).trials) == 2
    assert sweep(*args, "--trials", "3") == 0
    study = load(tmp_path)
    assert [t.number for t in study.trials] == [0, 1, 2] and all(t.state.name == "COMPLETE" for t in study.trials)
    assert sorted(p.name for p in (tmp_path / "sweeps" / "wine").glob("trial_*")) == ["trial_0", "trial_1", "trial_2"]
    assert sweep(str(wine), "--param", "Trainer.batch_size=choice:8,64", "--trials", "3") == 2  # other params
