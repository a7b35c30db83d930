"""A study is untrusted input: an edited study never gets params it did not search, or values outside
their ranges, into a workflow; results go only into the sweep's own folder; study names stay under
sweeps/; a path that cannot be written is one line. And a sweep that maximizes picks its highest trial."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from nodeflow import cli
from tests.reliability.test_fuzz_workflows import cli as run_in
from tests.sweeps.conftest import load, small_workflow

CATEGORICAL = '{{"name": "CategoricalDistribution", "attributes": {{"choices": {}}}}}'


def copy_study(built: Path, case: Path, *statements: tuple[str, tuple]) -> Path:
    """The built study copied into `case` (without its results), with `statements` run on its database."""
    shutil.copytree(built / "sweeps", case / "sweeps", ignore=shutil.ignore_patterns("trial_*", "*.png", "*.csv"))
    db = sqlite3.connect(case / "sweeps" / "wine" / "study.db")
    for sql, values in statements:
        db.execute(sql, values)
    db.commit()
    db.close()
    return case


def one_error(err: str, *parts: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and all(p in lines[0] for p in parts), err


@pytest.mark.parametrize("edit, field, why", [
    (("UPDATE trial_params SET param_value = 0.5 WHERE param_name = 'Trainer.lr'", ()),
     "Trainer.lr", "0.5 is outside its range (loguniform:1e-4:3e-2)"),
    (("UPDATE trial_params SET param_value = 2, distribution_json = ? WHERE param_name = 'Trainer.batch_size'",
      (CATEGORICAL.format("[8, 32, 4096]"),)), "Trainer.batch_size", "4096 is not one of its choices"),
    (("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) SELECT trial_id, "
      "'Trainer.checkpoint_dir', 0, ? FROM trials", (CATEGORICAL.format('["/tmp/elsewhere"]'),)),
     "Trainer.checkpoint_dir", "a param this study does not search"),
    (("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) SELECT trial_id, "
      "'Trainer.overwrite', 0, ? FROM trials", (CATEGORICAL.format("[true]"),)),
     "Trainer.overwrite", "a param this study does not search"),
])
def test_apply_best_writes_only_the_studys_own_params_inside_their_ranges(
        built_study: Path, tmp_path: Path, edit: tuple[str, tuple], field: str, why: str) -> None:
    case = copy_study(built_study, tmp_path, edit)
    code, out, err = run_in("sweep", "show", "wine", "--apply-best", "best.json", cwd=case)
    assert code == 2 and out == ""
    one_error(err, "sweeps/wine/study.db", f"field '{field}'", why)
    assert not (case / "best.json").exists() and not (case / "sweeps" / "wine" / "sweep.csv").exists()


@pytest.mark.parametrize("edit, field", [
    (("UPDATE trial_values SET value = NULL", ()), "value"),  # NaN is stored as NULL
    (("UPDATE trial_values SET value_type = 'INF_POS'", ()), "value"),
    (("UPDATE trial_params SET param_value = 7 WHERE param_name = 'Trainer.batch_size'", ()), "trials"),
    (("UPDATE study_user_attributes SET value_json = '[1, 2]' WHERE key = 'params'", ()), "params"),
    (("UPDATE trial_user_attributes SET value_json = '\"a text\"' WHERE key = 'worker'", ()), "worker"),
])
def test_a_tampered_study_is_one_line_naming_the_file_and_field(built_study: Path, tmp_path: Path,
                                                                 edit: tuple[str, tuple], field: str) -> None:
    case = copy_study(built_study, tmp_path, edit)
    code, out, err = run_in("sweep", "show", "wine", cwd=case)
    assert code == 2 and out == ""
    one_error(err, "sweeps/wine/study.db", f"field '{field}'")
    assert not (case / "sweeps" / "wine" / "sweep.csv").exists()


def test_results_go_into_the_sweeps_own_folder_never_where_the_study_points(built_study: Path,
                                                                             tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    case = copy_study(built_study, tmp_path / "case", ("UPDATE study_user_attributes SET value_json = ? "
                                                       "WHERE key = 'dir'", (json.dumps(str(elsewhere)),)))
    code, out, err = run_in("sweep", "show", "wine", "--apply-best", "best.json", cwd=case)
    assert code == 0, err
    assert list(elsewhere.iterdir()) == []
    assert {p.name for p in (case / "sweeps" / "wine").iterdir()} >= {"sweep.csv", "importance.csv", "history.png",
                                                                     "parallel.png"}
    assert "Results: sweeps/wine/sweep.csv" in out and (case / "best.json").is_file()


@pytest.mark.parametrize("name", ["../outside", "a/b", "..", ".hidden", "a\\b", "x" * 101, "tab\there"])
def test_a_study_name_is_one_plain_name_under_sweeps(wine: Path, name: str) -> None:
    case = wine.parent
    for args, field in ((["sweep", str(wine), "--param", "Trainer.lr=choice:0.01", "--study", name], "--study"),
                        (["sweep", "show", name], "STUDY")):
        code, out, err = run_in(*args, cwd=case)
        assert code == 2, err
        one_error(err, f"field '{field}'", "plain name")
    assert sorted(p.name for p in case.iterdir()) == ["wine.json"]  # no sweeps/ or outside/ folder


def test_an_unusable_storage_or_apply_best_path_is_one_line(built_study: Path, wine: Path, tmp_path: Path) -> None:
    code, out, err = run_in("sweep", str(wine), "--param", "Trainer.lr=choice:0.01", "--storage",
                            "sqlite:////proc/nodeflow-study.db", cwd=wine.parent)
    assert code == 2
    one_error(err, "/proc/nodeflow-study.db.lock", "field '--storage'", "lock file")
    case = copy_study(built_study, tmp_path / "case")
    for target in ("/proc/best.json", "sweeps"):  # a place nothing can be written, a folder
        code, out, err = run_in("sweep", "show", "wine", "--apply-best", target, cwd=case)
        assert code == 2
        one_error(err, "field '--apply-best'")
        assert not (case / "sweeps" / "wine" / "sweep.csv").exists()  # nothing written


def test_a_sweep_that_maximizes_picks_its_highest_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    wine = small_workflow(tmp_path, epochs=1)
    monkeypatch.chdir(tmp_path)
    # val_accuracy goes up (auto: maximize); lr 1e-7 stays near chance after an epoch, lr 0.01 does not
    assert cli.main(["sweep", str(wine), "--param", "Trainer.lr=choice:0.01,1e-7", "--sampler", "grid",
                     "--seed", "0", "--trials", "2", "--pruner", "none", "--metric", "val_accuracy"]) == 0
    trials = load(tmp_path).trials
    assert load(tmp_path).direction.name == "MAXIMIZE" and len({t.value for t in trials}) == 2
    top = max(trials, key=lambda t: t.value)
    assert cli.main(["sweep", "show", "wine", "--apply-best", "best.json"]) == 0
    out = capsys.readouterr().out
    assert f"Best: trial {top.number}, val_accuracy {top.value:.4g}: Trainer.lr={top.params['Trainer.lr']}" in out
    applied = json.loads((tmp_path / "best.json").read_text())["nodes"]["trainer"]["params"]
    assert applied["lr"] == top.params["Trainer.lr"] == 0.01
