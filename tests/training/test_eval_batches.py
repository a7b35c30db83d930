"""Scoring holds no more memory than training: validation, Evaluate and Predict run at the Trainer's
batch size; and a model preset names the run's folder (resnet20_shapes_<time>)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from nodes.datasets import DIGITS
from nodes.evaluation import EVALUATE, PREDICT
from nodes.generators import SHAPES_NODE
from nodes.image_data import IMAGE_FOLDER
from nodes.models import CNN, MLP, RESNET
from nodes.split import SPLIT
from nodes.training import TRAINER
from tests.nodes.test_datasets import Ctx, run


class RunCtx(Ctx):
    workflow_text = "{}"


class Recording(nn.Module):
    """A real model that notes the size of every batch it scores in eval mode."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.nodeflow_config = inner.nodeflow_config
        self.scored: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            self.scored.append(int(x.shape[0]))
        return self.inner(x)


def train(tmp_path: Path, model: nn.Module, data: dict[str, Any], **params: Any) -> nn.Module:
    settings = TRAINER.defaults() | {"epochs": 1, "device": "cpu", "checkpoint_dir": ""} | params
    inputs = {"model": model, "train": data["train"], "val": data["val"]}
    return TRAINER.run(RunCtx(tmp_path), inputs, settings)["model"]


def test_validation_evaluate_and_predict_score_at_the_trainers_batch_size(tmp_path: Path) -> None:
    data = run(SPLIT, tmp_path, {"dataset": run(DIGITS, tmp_path)["dataset"]}, val_fraction=0.2, test_fraction=0.2)
    model = Recording(run(MLP, tmp_path, {"dataset": data["train"]}, hidden=[16])["model"])
    trained = train(tmp_path, model, data, batch_size=32)
    assert len(data["val"]) > 300 and model.scored and max(model.scored) == 32  # the epoch's validation
    model.scored.clear()
    metrics = EVALUATE.run(RunCtx(tmp_path), {"model": trained, "dataset": data["test"]}, EVALUATE.defaults())
    assert metrics["metrics"]["samples"] == len(data["test"]) and max(model.scored) == 32
    model.scored.clear()
    PREDICT.run(RunCtx(tmp_path), {"model": trained, "dataset": data["test"]},
                PREDICT.defaults() | {"path": str(tmp_path / "p.csv")})
    assert (tmp_path / "p.csv").read_text().count("\n") == len(data["test"]) + 1 and max(model.scored) == 32
    model.scored.clear()
    EVALUATE.run(RunCtx(tmp_path), {"model": trained, "dataset": data["test"]}, EVALUATE.defaults() | {"batch_size": 7})
    assert max(model.scored) == 7  # an explicit batch size still wins


def test_streamed_validation_scores_at_the_trainers_batch_size(tmp_path: Path) -> None:
    from PIL import Image

    for i in range(60):  # PNGs on disk, decoded batch by batch (the case where memory ran out)
        (tmp_path / "images" / f"class_{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (80 * (i % 3), 0, 0)).save(tmp_path / "images" / f"class_{i % 3}" / f"{i}.png")
    images = run(IMAGE_FOLDER, tmp_path, path=str(tmp_path / "images"), image_size=8)["dataset"]
    data = run(SPLIT, tmp_path, {"dataset": images}, val_fraction=0.5, test_fraction=0.0)
    assert data["val"].lazy and len(data["val"]) == 30
    model = Recording(run(CNN, tmp_path, {"dataset": data["train"]}, channels=[4], hidden=0)["model"])
    train(tmp_path, model, data, batch_size=8, num_workers=0)
    assert sorted(set(model.scored)) == [6, 8]  # 30 validation images: 8, 8, 8, 6


def test_a_resnet_preset_names_the_experiment_and_the_model_placeholder(tmp_path: Path) -> None:
    data = run(SPLIT, tmp_path, {"dataset": run(SHAPES_NODE, tmp_path, samples=40, image_size=8)["dataset"]},
               val_fraction=0.25, test_fraction=0.0, stratify=False)
    model = run(RESNET, tmp_path, {"dataset": data["train"]}, preset="resnet20")["model"]
    train(tmp_path, model, data, batch_size=8, layout="experiments", checkpoint_dir=str(tmp_path / "experiments"))
    (experiment,) = (tmp_path / "experiments").iterdir()
    assert experiment.name.startswith("resnet20_shapes_") and (experiment / "checkpoints" / "latest.pt").is_file()
    custom = run(RESNET, tmp_path, {"dataset": data["train"]})["model"]
    train(tmp_path, custom, data, batch_size=8, checkpoint_dir=str(tmp_path / "runs" / "{model}"))
    model = run(RESNET, tmp_path, {"dataset": data["train"]}, preset="resnet20")["model"]
    train(tmp_path, model, data, batch_size=8, checkpoint_dir=str(tmp_path / "runs" / "{model}"))
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["resnet", "resnet20"]


def test_evaluate_on_the_validation_data_reuses_the_last_epochs_scores_until_the_model_changes(tmp_path: Path) -> None:
    data = run(SPLIT, tmp_path, {"dataset": run(DIGITS, tmp_path)["dataset"]}, val_fraction=0.2, test_fraction=0.2)
    model = Recording(run(MLP, tmp_path, {"dataset": data["train"]}, hidden=[16])["model"])
    settings = TRAINER.defaults() | {"epochs": 1, "device": "cpu", "checkpoint_dir": "", "batch_size": 32}
    out = TRAINER.run(RunCtx(tmp_path), {"model": model, "train": data["train"], "val": data["val"]}, settings)
    model.scored.clear()
    metrics = EVALUATE.run(RunCtx(tmp_path), {"model": out["model"], "dataset": data["val"]},
                           EVALUATE.defaults())["metrics"]
    assert model.scored == []  # the last epoch scored exactly this: not scored twice
    assert metrics["loss"] == out["history"]["val_loss"][-1] and metrics["samples"] == len(data["val"])
    with torch.no_grad():  # the model changes (an optimizer step would do the same): scored afresh
        next(model.parameters()).add_(0.5)
    again = EVALUATE.run(RunCtx(tmp_path), {"model": out["model"], "dataset": data["val"]},
                         EVALUATE.defaults())["metrics"]
    assert model.scored and again["loss"] != metrics["loss"]
