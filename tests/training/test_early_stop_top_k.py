"""Early stopping and keeping the top-k checkpoints by the monitored metric, as Lightning users expect."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from nodeflow.checkpoints.manifest import read_entries
from tests.conftest import WORKFLOWS, build_once, run_cli

WINE = str(WORKFLOWS / "wine_mlp.json")
# min_delta 100: no epoch after the first counts as an improvement, so patience 2 stops after epoch 3
STOPPING = ["--set", "Trainer.epochs=10", "--set", "Trainer.min_delta=100", "--set", "Trainer.checkpoint_dir=ck",
            "--set", "Trainer.save_every_n_epochs=1"]


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def build(folder: Path) -> None:
        done = run_cli("run", WINE, *STOPPING, "--set", "Trainer.early_stop_patience=2", cwd=folder)
        assert done.returncode == 0, done.stderr
        (folder / "stdout.txt").write_text(done.stdout)

    return build_once(tmp_path_factory, "early_stop_wine", build)


def test_patience_stops_the_run_says_so_and_records_it(stopped: Path) -> None:
    out = (stopped / "stdout.txt").read_text()
    assert "Epoch [3/10]" in out and "Epoch [4/10]" not in out
    assert "Early stopping at epoch 3: val_loss has not improved for 2 epoch(s) (best " in out
    assert out.index("Saved checkpoint: checkpoint_epoch_3.pt") < out.index("Early stopping")
    final = torch.load(stopped / "ck" / "final_model.pt", weights_only=False)
    assert final["epoch"] == 3 and final["stopped_early"] == 3
    assert "Early stopping at epoch 3" in (stopped / "ck" / "training_log.txt").read_text()


def test_a_resumed_stopped_run_trains_on_only_with_more_patience(stopped: Path, tmp_path: Path) -> None:
    shutil.copytree(stopped / "ck", tmp_path / "ck")
    same = run_cli("run", WINE, *STOPPING, "--set", "Trainer.early_stop_patience=2", "--resume", "auto",
                   cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    assert "Epoch [4/10]" not in same.stdout and "Early stopping at epoch 3:" in same.stdout, same.stdout
    more = run_cli("run", WINE, *STOPPING, "--set", "Trainer.early_stop_patience=4", "--resume", "auto",
                   cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "Epoch [5/10]" in more.stdout and "Epoch [6/10]" not in more.stdout  # 2 stale epochs were counted
    assert torch.load(tmp_path / "ck" / "final_model.pt", weights_only=False)["stopped_early"] == 5


def test_save_top_k_keeps_the_periodic_files_with_the_best_monitored_value(tmp_path: Path) -> None:
    done = run_cli("run", WINE, "--set", "Trainer.epochs=8", "--set", "Trainer.lr=0.05", "--set",
                   "Trainer.save_every_n_epochs=1", "--set", "Trainer.save_top_k=2", "--set",
                   "Trainer.checkpoint_dir=ck", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    losses = torch.load(tmp_path / "ck" / "final_model.pt", weights_only=False)["history"]["val_loss"]
    best_two = sorted(range(1, 9), key=lambda epoch: losses[epoch - 1])[:2]
    kept = sorted(int(p.stem.split("_")[-1]) for p in (tmp_path / "ck").glob("checkpoint_epoch_*.pt"))
    assert kept == sorted(best_two), (losses, kept)
    periodic = {n for n, e in read_entries(tmp_path / "ck").items() if e.get("kind") == "periodic"}
    assert periodic == {f"checkpoint_epoch_{n}.pt" for n in kept}  # the manifest agrees with the folder
    assert all(math.isfinite(v) for v in losses)


def test_top_k_and_max_checkpoints_together_are_one_line(tmp_path: Path) -> None:
    done = run_cli("run", WINE, "--set", "Trainer.save_top_k=2", "--set", "Trainer.max_checkpoints=3",
                   "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "save_top_k" in done.stderr and not (tmp_path / "ck").exists()
