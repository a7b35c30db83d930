"""Trained Pretrained runs shared by the checkpoint, resume and export tests (each built once a session).

The shipped tiny models in Hugging Face format: GPT-2 with a LoRA adapter on a small corpus, BERT
classifying reviews with its first layer frozen, BERT with a LoRA adapter and a new head, and GPT-2
fine-tuned in full (what a LoRA checkpoint is compared with).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, build_once, run_cli
from tests.pretrained.workflows import pretrained_workflow

SHIPPED = ROOT / "workflows" / "data"
# 3 epochs of small batches, a checkpoint every 5 of them (mid-epoch files to resume from)
TRAIN = ["--set", "Trainer.epochs=3", "--set", "Trainer.batch_size=2", "--set", "Trainer.save_every_n_iters=5"]
CASES = {
    "lora": ("tiny_gpt2", "causal-lm", {"lora_r": 4, "lora_dropout": 0.1}),
    "first-layers": ("tiny_bert", "sequence-classification", {"freeze": "first-layers", "freeze_layers": 1}),
    "bert-lora": ("tiny_bert", "sequence-classification", {"lora_r": 4}),
    "full": ("tiny_gpt2", "causal-lm", {}),
}
SHORT = {"bert-lora", "full"}  # trained 1 epoch: read, never resumed


def workflow(folder: Path, case: str, base: Path | None = None) -> Path:
    model, task, params = CASES[case]
    return pretrained_workflow(folder, str(base or SHIPPED / model), task, **params)


def train_args(case: str) -> list[str]:
    return ["--set", "Trainer.epochs=1", "--set", "Trainer.batch_size=8"] if case in SHORT else TRAIN


def trained_run(factory: pytest.TempPathFactory, case: str) -> Path:
    """The checkpoint folder of the run of `case`, never stopped."""
    def build(folder: Path) -> None:
        done = run_cli("run", str(workflow(folder, case)), *train_args(case), cwd=folder)
        assert done.returncode == 0, done.stderr

    return build_once(factory, f"pretrained_run_{case}", build) / "ckpt"
