"""Callbacks: progress events. Checkpoint writing lives in nodeflow.training.checkpointing."""
from __future__ import annotations

import time
from collections.abc import Callable

import torch

from nodeflow.training.loop import Callback, TrainingLoop

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
        self.emit("epoch_end", epoch=state.epoch, epochs=loop.config.epochs, step=state.step,
                  metrics=dict(state.metrics), monitor=state.monitor, improved=state.improved,
                  report=loop.epoch_report)
