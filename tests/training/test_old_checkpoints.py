"""Checkpoint folders written by an earlier NodeFlow (tests/fixtures/old_checkpoints) still list,
verify, load and resume: moving the checkpoint code must not strand a user's files."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nodeflow
from nodeflow import cli
from tests.conftest import ROOT, WORKFLOWS

OLD = ROOT / "tests" / "fixtures" / "old_checkpoints"
FOLDERS = {  # folder: the files its manifest lists
    "nodeflow": ["best_model.pt", "checkpoint_epoch_2.pt", "checkpoint_epoch_4.pt", "final_model.pt"],
    "experiments/wine/checkpoints": ["best.pt", "epoch_0001.pt", "epoch_0002.pt", "latest.pt"],
    "compressed": ["checkpoint_epoch_2.pt.zst", "final_model.pt.zst"],
    "mid_epoch": ["checkpoint_iter_20.pt", "checkpoint_iter_40.pt", "final_model.pt"],
    "interrupted": ["best_model.pt", "checkpoint_interrupted.pt"],
}


@pytest.mark.parametrize("folder", FOLDERS)
def test_old_folders_list_and_verify(folder: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ckpt", "list", str(OLD / folder)]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in FOLDERS[folder]), listed
    assert cli.main(["ckpt", "verify", str(OLD / folder)]) == 0
    count = len(FOLDERS[folder])
    assert f"{count} of {count} checkpoint(s) verified" in capsys.readouterr().out


@pytest.mark.parametrize("folder", FOLDERS)
def test_old_files_load_as_the_model_they_saved(folder: str) -> None:
    for name in FOLDERS[folder]:
        path = OLD / folder / name
        model, checkpoint = nodeflow.restore_model(path)
        if path.suffix == ".pt":  # a plain torch.load opens it as before; the .zst ones need our reader
            assert torch.load(path)["epoch"] == checkpoint["epoch"]
        for key, tensor in model.state_dict().items():
            assert torch.equal(tensor, checkpoint["model_state_dict"][key]), (name, key)
        assert model(torch.zeros(2, 13)).shape == (2, 3)  # 13 wine features, 3 cultivars


def resume(folder: str, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    target = tmp_path / folder
    shutil.copytree(OLD / folder, target)
    command = [sys.executable, str(ROOT / "main.py"), "run", str(WORKFLOWS / "wine_mlp.json"), "--until", "Trainer",
               "--set", f"Trainer.checkpoint_dir={target}", "--set", "Trainer.batch_size=4", *args]
    return subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_old_checkpoints_resume(tmp_path: Path) -> None:
    # mid-epoch (batch 13 of epoch 2), resumed twice here: both runs end on the same weights bit for bit, and
    # on the weights the uninterrupted run saved when the fixtures were made, within float tolerance (that run
    # was made on another CPU, whose kernels may round differently)
    mid_args = ("--set", "Trainer.epochs=2", "--set", "Trainer.save_every_n_epochs=100",
                "--set", "Trainer.save_every_n_iters=20", "--set", "Trainer.max_checkpoints=2",
                "--set", "Trainer.save_best=false")
    mids = [resume("mid_epoch", tmp_path / name, *mid_args, "--resume",
                   str(tmp_path / name / "mid_epoch" / "checkpoint_iter_40.pt")) for name in ("a", "b")]
    # stopped with Ctrl-C after epoch 3: `--resume auto` picks the interrupt file and trains epoch 4
    stopped = resume("interrupted", tmp_path, "--set", "Trainer.epochs=4", "--set", "Trainer.save_every_n_epochs=100",
                     "--resume", "auto")
    for child in (*mids, stopped):
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        assert "Resuming from" in out, out
    first, second = (torch.load(tmp_path / name / "mid_epoch" / "final_model.pt")["model_state_dict"]
                     for name in ("a", "b"))
    assert all(torch.equal(first[key], second[key]) for key in first)
    saved = torch.load(OLD / "mid_epoch" / "final_model.pt")["model_state_dict"]
    resumed_from = torch.load(OLD / "mid_epoch" / "checkpoint_iter_40.pt")["model_state_dict"]
    for key in saved:
        assert torch.allclose(first[key], saved[key], rtol=1e-3, atol=1e-4), key
    assert any(not torch.equal(first[key], resumed_from[key]) for key in first)  # it trained on from there
    final = torch.load(tmp_path / "interrupted" / "final_model.pt")
    assert final["epoch"] == 4
