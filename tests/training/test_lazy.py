"""Lazy data through DataLoader workers: the same weights for any worker count, and exact resume."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nodeflow.training.loop import TrainConfig, TrainingLoop
from nodes.augment import AUGMENT
from nodes.image_data import IMAGE_FOLDER
from nodes.models import CNN
from tests.conftest import WORKFLOWS, run_cli, start_cli
from tests.nodes.test_datasets import run
from tests.training.test_resume import assert_same_final, interrupt_inside_epoch_2, uninterrupted

SHAPES = ["run", str(WORKFLOWS / "shapes_resnet.json"), "--set", "Trainer.epochs=3", "--set",
          "Trainer.layout=nodeflow", "--set", "Trainer.num_workers=2", "--set", "Trainer.batch_size=2",
          "--set", "Trainer.save_every_n_epochs=1", "--set", "ResNet.widths=8,16"]


def shapes() -> object:
    data = run(IMAGE_FOLDER, WORKFLOWS, path="data/shapes", image_size=16)["dataset"]
    return run(AUGMENT, WORKFLOWS, {"dataset": data}, hflip=0.5, crop_padding=2, rotation=10.0)["dataset"]


def train(workers: int) -> dict[str, torch.Tensor]:
    data = shapes()
    model = run(CNN, WORKFLOWS, {"dataset": data}, channels=[8], hidden=16)["model"]
    config = TrainConfig(epochs=2, batch_size=16, device="cpu", num_workers=workers)
    TrainingLoop(model, data, None, config).fit()
    return model.state_dict()


def test_the_worker_count_does_not_change_the_weights() -> None:
    """Augmentation draws from (seed, epoch, sample), not from whichever worker decodes the sample."""
    none, two = train(0), train(2)
    assert all(torch.equal(none[k], two[k]) for k in none)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return uninterrupted(tmp_path_factory, "lazy_reference", *SHAPES)


def test_ctrl_c_mid_epoch_with_workers_then_resume_is_bit_identical(reference: Path, tmp_path: Path) -> None:
    proc = start_cli(*SHAPES, "--set", "Trainer.checkpoint_dir=run", "--events", "jsonl", cwd=tmp_path)
    interrupt_inside_epoch_2(proc)
    proc.communicate(timeout=120)
    interrupted = torch.load(tmp_path / "run" / "checkpoint_interrupted.pt")
    assert interrupted["batch_in_epoch"] > 0  # stopped inside an epoch, workers still prefetching
    result = run_cli(*SHAPES, "--set", "Trainer.checkpoint_dir=run", "--resume", "auto", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_same_final(reference, tmp_path / "run")
