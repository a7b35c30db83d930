"""Trainer settings a user relies on: an explicit `mode` picks the best checkpoint, a resumed run's
learning-rate schedule continues where it was, and `--reuse` trains again when a float param changes."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import WORKFLOWS, build_once, events, run_cli

WINE = ["run", str(WORKFLOWS / "wine_mlp.json"), "--set", "Trainer.epochs=4", "--set", "Trainer.save_every_n_epochs=1",
        "--set", "Trainer.scheduler=cosine", "--set", "Trainer.lr=0.01", "--set", "Trainer.monitor=val_loss",
        "--set", "Trainer.mode=max"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four epochs of a cosine schedule, best_model.pt chosen by the highest validation loss."""
    def build(cwd: Path) -> None:
        done = run_cli(*WINE, "--set", "Trainer.checkpoint_dir=ck", cwd=cwd)
        assert done.returncode == 0, done.stderr

    return build_once(tmp_path_factory, "trainer_properties_cosine_max", build) / "ck"


def test_mode_max_keeps_the_epoch_with_the_highest_monitored_value(uninterrupted: Path) -> None:
    val_loss = torch.load(uninterrupted / "final_model.pt")["history"]["val_loss"]
    highest, lowest = val_loss.index(max(val_loss)) + 1, val_loss.index(min(val_loss)) + 1
    assert highest != lowest, val_loss  # otherwise min and max would pick the same epoch
    best = torch.load(uninterrupted / "best_model.pt")
    assert best["epoch"] == highest and best["best"] == max(val_loss), (best["epoch"], val_loss)


def test_a_resumed_cosine_schedule_continues_where_it_was(uninterrupted: Path, tmp_path: Path) -> None:
    middle = tmp_path / "checkpoint_epoch_2.pt"
    shutil.copy(uninterrupted / "checkpoint_epoch_2.pt", middle)
    done = run_cli(*WINE, "--set", f"Trainer.resume={middle}", "--set", "Trainer.checkpoint_dir=resumed",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"Resuming from {middle} (epoch 2" in done.stdout
    expected = torch.load(uninterrupted / "final_model.pt")["history"]["lr"]
    assert len(set(expected)) == 4  # the schedule moves every epoch: a restart would show
    assert torch.load(tmp_path / "resumed" / "final_model.pt")["history"]["lr"] == expected


def test_reuse_trains_again_when_the_learning_rate_changes_a_little(tmp_path: Path) -> None:
    shutil.copy(WORKFLOWS / "wine_mlp.json", tmp_path)
    (tmp_path / "data").mkdir()
    shutil.copy(WORKFLOWS / "data" / "wine.csv", tmp_path / "data")

    def run(lr: str) -> list[dict]:
        done = run_cli("run", "wine_mlp.json", "--reuse", "--events", "jsonl", "--set", "Trainer.epochs=2",
                       "--set", f"Trainer.lr={lr}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return events(done.stdout)

    run("0.001")
    assert not any(e["event"] == "fit_start" for e in run("0.001"))  # unchanged: the model is reused
    changed = run("0.0012")
    assert any(e["event"] == "fit_start" for e in changed)
    rerun = {e["node"]: e["reason"] for e in changed if e["event"] == "node_rerun"}
    assert rerun["Trainer"] == "lr changed", rerun
    final = tmp_path / "checkpoints" / "wine_mlp" / "run_2" / "final_model.pt"
    assert torch.load(final)["history"]["lr"] == [0.0012, 0.0012]
