"""Callbacks: progress events and periodic/best/final/interrupt checkpoints."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from nodeflow import __version__
from nodeflow.core.errors import DataError, Issue
from nodeflow.training import checkpoint as ckpt
from nodeflow.training.loop import Callback, TrainingLoop
from nodeflow.training.rng import capture_rng

Emit = Callable[..., None]


class ProgressEvents(Callback):
    """Emits fit_start, throttled batch_progress and epoch_end events.

    `loss.item()` (a host sync) happens only when a progress event goes out.
    """

    def __init__(self, emit: Emit, checkpoint_dir: str = "", every_seconds: float = 0.25):
        self.emit = emit
        self.checkpoint_dir = checkpoint_dir
        self.every = every_seconds
        self._last = 0.0

    def on_fit_start(self, loop: TrainingLoop) -> None:
        self.emit("fit_start", epochs=loop.config.epochs, device=str(loop.device),
                  train_size=len(loop.train_data),
                  val_size=len(loop.val_data) if loop.val_data is not None else 0,
                  monitor=loop.state.monitor, checkpoint_dir=self.checkpoint_dir)

    def on_batch_end(self, loop: TrainingLoop, batch: int, batches: int, loss: torch.Tensor) -> None:
        now = time.monotonic()
        if now - self._last >= self.every or batch == batches:
            self._last = now
            self.emit("batch_progress", epoch=loop.state.epoch + 1, epochs=loop.config.epochs,
                      batch=batch, batches=batches, loss=float(loss.detach()))

    def on_epoch_end(self, loop: TrainingLoop) -> None:
        state = loop.state
        self.emit("epoch_end", epoch=state.epoch, epochs=loop.config.epochs,
                  metrics=dict(state.metrics), monitor=state.monitor, improved=state.improved)


class Checkpoints(Callback):
    """Writes checkpoint_epoch_N.pt, best_model.pt, final_model.pt and, on a stop,
    checkpoint_interrupted.pt into `folder`, each atomically."""

    def __init__(self, folder: Path, every: int, emit: Emit, config: Mapping[str, Any]):
        self.folder = folder
        self.every = every
        self.emit = emit
        self.config = dict(config)

    def on_fit_start(self, loop: TrainingLoop) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(Issue(f"cannot create {self.folder}: {exc.strerror}",
                                  field="checkpoint_dir")) from None

    def on_epoch_end(self, loop: TrainingLoop) -> None:
        epoch = loop.state.epoch
        if epoch % self.every == 0:
            self._save(loop, ckpt.PERIODIC.format(epoch=epoch), "periodic")
        if loop.state.improved:
            self._save(loop, ckpt.BEST, "best")

    def on_fit_end(self, loop: TrainingLoop) -> None:
        self._save(loop, ckpt.FINAL, "final")

    def on_interrupt(self, loop: TrainingLoop) -> None:
        self._save(loop, ckpt.INTERRUPTED, "interrupt")

    def _save(self, loop: TrainingLoop, name: str, kind: str) -> None:
        path = self.folder / name
        try:
            ckpt.atomic_save(payload(loop, self.config), path)
        except OSError as exc:
            raise RuntimeError(f"could not write checkpoint {path}: {exc.strerror or exc}") from None
        state = loop.state
        value = state.best if kind == "best" else state.metrics.get(state.monitor)
        self.emit("checkpoint_saved", kind=kind, path=str(path), epoch=state.epoch,
                  monitor=state.monitor, value=value)


def payload(loop: TrainingLoop, config: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint dict: seed keys first, then what exact resume needs."""
    state = loop.state
    return {
        "epoch": state.epoch,
        "model_state_dict": loop.model.state_dict(),
        "optimizer_state_dict": loop.optimizer.state_dict(),
        "scheduler_state_dict": loop.scheduler.state_dict() if loop.scheduler is not None else None,
        "scaler_state_dict": loop.scaler.state_dict() if loop.scaler is not None else None,
        "loss": state.epoch_losses[-1] if state.epoch_losses else None,
        "epoch_losses": list(state.epoch_losses),
        "config": dict(config),
        "step": state.step,
        "batch_in_epoch": state.batch_in_epoch,
        "metrics": dict(state.metrics),
        "history": {k: list(v) for k, v in state.history.items()},
        "monitor": state.monitor,
        "best": state.best,
        "best_epoch": state.best_epoch,
        "rng": capture_rng(loop.loader_generator),
        "nodeflow_version": __version__,
    }
