"""Checkpoints of a Pretrained model with frozen parts hold what trains, and resume exactly.

A LoRA run (GPT-2) and a run with its first layer frozen (BERT classifying reviews) are killed
with SIGKILL right after a mid-epoch checkpoint, resumed with `--resume auto`, and compared
with the same runs left alone: the same final weights bit for bit, the same parameters training.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nodeflow
from nodeflow.checkpoints.manifest import read_entries, verify_file
from tests.conftest import ROOT, run_cli
from tests.pretrained.runs import TRAIN, trained_run, workflow


def trained(folder: Path) -> tuple[dict[str, torch.Tensor], set[str]]:
    """The final checkpoint's model rebuilt: its whole state, and the names of the parameters that train."""
    model, _ = nodeflow.restore_model(folder / "final_model.pt")
    return model.state_dict(), {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("case", ["lora", "first-layers"])
def test_kill_9_after_a_mid_epoch_checkpoint_then_resume_auto_is_bit_identical(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, case: str) -> None:
    reference = trained_run(tmp_path_factory, case)
    path = workflow(tmp_path, case)
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "run", str(path), *TRAIN, "--events", "jsonl"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    saved = 0
    for line in proc.stdout:
        saved += json.loads(line)["event"] == "checkpoint_saved"
        if saved == 2:  # the second periodic file (after 10 batches) is on disk
            break
    proc.kill()  # SIGKILL: no handler runs, nothing more is written
    proc.wait()
    folder = tmp_path / "ckpt"
    assert proc.returncode == -9 and not (folder / "final_model.pt").exists()

    done = run_cli("run", str(path), *TRAIN, "--resume", "auto", "--events", "jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    resumed = [json.loads(line) for line in done.stdout.splitlines() if '"resumed"' in line]
    assert len(resumed) == 1 and resumed[0]["event"] == "resumed"
    assert torch.load(resumed[0]["path"])["batch_in_epoch"] > 0  # it went on from inside an epoch

    final, ref = torch.load(folder / "final_model.pt"), torch.load(reference / "final_model.pt")
    assert final["epoch_losses"] == ref["epoch_losses"]
    assert final["model_state_is"] == "trainable" and final["model_state_dict"].keys() == ref["model_state_dict"].keys()
    weights, training = trained(folder)
    ref_weights, ref_training = trained(reference)
    assert training == ref_training
    assert weights.keys() == ref_weights.keys()
    for name, tensor in ref_weights.items():
        assert torch.equal(weights[name], tensor), name
    assert set(final["model_state_dict"]) == training  # what trains, nothing of the frozen base
    for name, entry in read_entries(folder).items():
        assert verify_file(folder / name, entry) is None, name
