"""Settings changed before a resume are the ones the resumed epochs train with, and say so."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import WORKFLOWS, build_once, run_cli

WINE = str(WORKFLOWS / "wine_mlp.json")
BASE = ["--set", "Trainer.epochs=2", "--set", "Trainer.lr=0.001", "--set", "Trainer.scheduler=cosine",
        "--set", "Trainer.checkpoint_dir=ck"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-epoch wine run with lr 0.001 on a cosine schedule (its folder's parent)."""
    def build(folder: Path) -> None:
        done = run_cli("run", WINE, *BASE, cwd=folder)
        assert done.returncode == 0, done.stderr

    return build_once(tmp_path_factory, "resume_settings_wine", build)


def resumed(trained: Path, tmp_path: Path, *changes: str) -> tuple[str, dict]:
    shutil.copytree(trained / "ck", tmp_path / "ck")
    done = run_cli("run", WINE, *BASE, "--resume", "auto", *changes, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout, torch.load(tmp_path / "ck" / "final_model.pt", weights_only=False)


def test_a_changed_learning_rate_is_applied_printed_and_recorded(trained: Path, tmp_path: Path) -> None:
    out, final = resumed(trained, tmp_path, "--set", "Trainer.epochs=4", "--set", "Trainer.lr=0.002")
    assert "applied to the restored training state: learning rate 0.001 -> 0.002" in out
    groups = final["optimizer_state_dict"]["param_groups"]
    assert [g["initial_lr"] for g in groups] == [0.002] * len(groups)  # the base the schedule decays from
    assert final["scheduler_state_dict"]["base_lrs"] == [0.002] * len(groups)
    assert json.loads((tmp_path / "ck" / "hyperparameters.json").read_text())["lr"] == 0.002


def test_a_changed_learning_rate_trains_the_resumed_epochs_without_a_schedule(tmp_path: Path) -> None:
    """No scheduler recomputes the rate here: the restored optimizer itself must take the new one."""
    plain = ["--set", "Trainer.lr=0.001", "--set", "Trainer.checkpoint_dir=ck"]
    assert run_cli("run", WINE, *plain, "--set", "Trainer.epochs=1", cwd=tmp_path).returncode == 0
    done = run_cli("run", WINE, *plain, "--set", "Trainer.epochs=2", "--set", "Trainer.lr=0.002",
                   "--resume", "auto", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "ck" / "history" / "epoch_2.json").read_text())["learning_rate"] == 0.002
    final = torch.load(tmp_path / "ck" / "final_model.pt", weights_only=False)
    assert {g["lr"] for g in final["optimizer_state_dict"]["param_groups"]} == {0.002}


def test_more_epochs_stretch_the_schedule_to_the_new_end(trained: Path, tmp_path: Path) -> None:
    out, final = resumed(trained, tmp_path, "--set", "Trainer.epochs=4")
    assert final["scheduler_state_dict"]["T_max"] == 4  # cosine over the 4 epochs now asked for, not 2
    assert "schedule T_max 2 -> 4" in out
    rates = [json.loads((tmp_path / "ck" / "history" / f"epoch_{n}.json").read_text())["learning_rate"]
             for n in (3, 4)]  # where a 4-epoch cosine is: the 2-epoch one had ended at 0
    assert rates == pytest.approx([0.001 * (1 + math.cos(math.pi * e / 4)) / 2 for e in (2, 3)])


def test_an_unchanged_resume_applies_nothing(trained: Path, tmp_path: Path) -> None:
    out, final = resumed(trained, tmp_path)
    assert "applied to the restored training state" not in out
    assert final["scheduler_state_dict"]["T_max"] == 2


def test_another_optimizer_is_refused_before_anything_is_written(trained: Path, tmp_path: Path) -> None:
    shutil.copytree(trained / "ck", tmp_path / "ck")
    before = sorted(p.name for p in (tmp_path / "ck").iterdir())
    done = run_cli("run", WINE, *BASE, "--resume", "auto", "--set", "Trainer.optimizer=sgd", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "optimizer cannot change on resume" in done.stderr and "'adam'" in done.stderr
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == before
