"""A LoRA model trains in two processes (`run --nproc 2`, gloo on CPU) as in one, and rank 0's
checkpoint holds the adapter alone, rebuilt over the base like a one-process run's."""
from __future__ import annotations

import json
from pathlib import Path

import torch

import nodeflow
from tests.conftest import run_cli
from tests.pretrained.runs import SHIPPED
from tests.pretrained.workflows import pretrained_workflow


def losses(folder: Path) -> list[float]:
    files = sorted((folder / "history").glob("epoch_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    return [json.loads(p.read_text())["metrics"]["train"]["loss"] for p in files]


def test_two_processes_train_a_lora_model_like_one(tmp_path: Path) -> None:
    path = pretrained_workflow(tmp_path, str(SHIPPED / "tiny_gpt2"), "causal-lm", lora_r=4, lora_dropout=0.0)
    one = run_cli("run", str(path), "--set", "Trainer.checkpoint_dir=one", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = run_cli("run", str(path), "--nproc", "2", "--set", "Trainer.checkpoint_dir=two", cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(a) == len(b) == 2 and max(abs(x - y) for x, y in zip(a, b)) < 1e-5
    single, ddp = (torch.load(tmp_path / name / "final_model.pt") for name in ("one", "two"))
    assert ddp["model_state_is"] == "trainable" and ddp["model_state_dict"].keys() == single["model_state_dict"].keys()
    for name, tensor in single["model_state_dict"].items():
        assert torch.allclose(ddp["model_state_dict"][name], tensor, atol=1e-5), name
    model, _ = nodeflow.restore_model(tmp_path / "two" / "final_model.pt")
    assert {n for n, p in model.named_parameters() if p.requires_grad} == set(ddp["model_state_dict"])
