"""train_step events: the mean training loss of the batches since the last point, every few steps,
during an epoch, at a bounded rate; and the run record keeps them, thinned."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from nodeflow.console import Console
from nodeflow.runs import MAX_POINTS, add_step
from nodeflow.training.callbacks import ProgressEvents, StepThrottle
from nodeflow.training.loop import Callback, TrainConfig, TrainingLoop
from tests.conftest import WORKFLOWS, events, run_cli
from tests.training.test_loop import blobs, mlp


class BatchLosses(Callback):
    """Every batch's loss, read on the host (the test may sync; the loop does not)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_batch_end(self, loop: TrainingLoop, batch: int, batches: int, loss: torch.Tensor) -> None:
        self.losses.append(float(loss.detach()))


def train(throttle: StepThrottle, epochs: int = 2) -> tuple[list[dict[str, Any]], list[float]]:
    seen: list[dict[str, Any]] = []
    data = blobs()  # 240 samples: 15 batches of 16
    losses = BatchLosses()
    progress = ProgressEvents(lambda event, **fields: seen.append({"event": event, **fields}), steps=throttle)
    TrainingLoop(mlp(data), data, None, TrainConfig(epochs=epochs, batch_size=16, lr=0.01),
                 [progress, losses]).fit()
    return seen, losses.losses


def test_each_point_is_the_mean_loss_of_the_batches_since_the_last_one() -> None:
    seen, losses = train(StepThrottle(points_per_epoch=5, min_seconds=0.0))  # a point every 3 batches
    steps = [e for e in seen if e["event"] == "train_step"]
    assert [e["step"] for e in steps] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert [e["epoch"] for e in steps] == [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]
    for e in steps:
        window = losses[e["step"] - 3:e["step"]]
        assert e["loss"] == pytest.approx(sum(window) / 3, rel=1e-5), e
        assert e["lr"] == 0.01
    # points arrive during an epoch, before its epoch_end
    order = [e["event"] for e in seen if e["event"] in ("train_step", "epoch_end")]
    assert order[:6] == ["train_step"] * 5 + ["epoch_end"]
    epoch = next(e for e in seen if e["event"] == "epoch_end")
    assert epoch["step"] == 15 and sum(e["loss"] for e in steps[:5]) / 5 == pytest.approx(
        epoch["metrics"]["train_loss"], rel=1e-5)


def test_points_are_never_closer_than_the_time_floor_and_the_runs_last_batch_is_one() -> None:
    seen, losses = train(StepThrottle(points_per_epoch=1000, min_seconds=1e9, max_seconds=1e9))
    steps = [e for e in seen if e["event"] == "train_step"]
    # every batch was due, none was let out until the run's last: its window holds both epochs
    assert [e["step"] for e in steps] == [30] and steps[0]["loss"] == pytest.approx(sum(losses) / 30, rel=1e-5)
    seen, losses = train(StepThrottle(points_per_epoch=1, min_seconds=0.0, max_seconds=0.0), epochs=1)
    assert [e["loss"] for e in seen if e["event"] == "train_step"] == pytest.approx(losses, rel=1e-5)


def test_the_record_keeps_at_most_max_points_evenly_thinned() -> None:
    curves: dict[str, Any] = {}
    for step in range(1, 5 * MAX_POINTS + 1):
        add_step(curves, step, 1.0 / step, 0.1)
    kept = [s for s, _ in curves["train_loss"]]
    assert MAX_POINTS // 2 <= len(kept) <= MAX_POINTS and len(curves["lr"]) == len(kept)
    assert kept[0] == 1 and len({b - a for a, b in zip(kept, kept[1:])}) == 1  # one stride throughout
    assert kept[-1] > 4 * MAX_POINTS


def test_a_headless_run_streams_points_within_its_first_epoch_and_records_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two threads on a busy 2-core machine: minutes, not seconds
    done = run_cli("run", str(WORKFLOWS / "digits_cnn.json"), "--events", "jsonl", "--set", "Trainer.epochs=2",
                   "--set", "Trainer.batch_size=2", "--set", "Trainer.checkpoint_dir=", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seen = events(done.stdout)
    first_end = next(i for i, e in enumerate(seen) if e["event"] == "epoch_end")
    during = [e for e in seen[:first_end] if e["event"] == "train_step"]
    assert len(during) >= 2 and during[0]["epoch"] < 1  # 629 batches an epoch (~0.7 s), a point at most every 0.1 s
    assert all(math.isfinite(e["loss"]) and e["lr"] == 0.001 for e in during)
    steps = [e["step"] for e in seen if e["event"] == "train_step"]
    ends = [e["step"] for e in seen if e["event"] == "epoch_end"]
    assert steps == sorted(steps) and during[-1]["step"] <= ends[0] and steps[-1] == ends[-1] == 2 * ends[0]
    console = io.StringIO()
    for event in seen:
        Console(console)(event)
    assert "train_step" not in console.getvalue() and console.getvalue().count("Epoch [") == 2
    record = json.loads(next((tmp_path / "home" / "runs").glob("*.json")).read_text())
    curves = record["steps"]["Trainer"]
    assert [s for s, _ in curves["train_loss"]] == steps and len(curves["lr"]) == len(steps)
    assert [s for s, _ in curves["val_loss"]] == ends
