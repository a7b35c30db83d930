"""Callbacks: progress events. Checkpoint writing lives in nodeflow.training.checkpoint_callback."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from nodeflow.training.loop import Callback, TrainingLoop, batch_bounds

Emit = Callable[..., None]


@dataclass(frozen=True)
class StepThrottle:
    """When a train_step point goes out: every `max(1, min(batches per epoch, steps of the run) //
    points_per_epoch)` batches (about 50 points an epoch, or a run shorter than an epoch), never two
    within `min_seconds` (at most 10 events a second on fast batches: a due point waits and its window
    grows), and one at least every `max_seconds` while batches finish (slow batches still show a point
        within seconds). The last batch of an epoch ends a window unless it is too soon (then it joins the
    next epoch's first point); the run's last batch always does."""

    points_per_epoch: int = 50
    min_seconds: float = 0.1
    max_seconds: float = 2.0


class StepWindow:
    """The mean training loss over the batches since the last point, read from the loop's own
    on-device epoch sum (`loop.loss_sum`, sample-weighted): nothing added to a batch's work, one host
    sync per point."""

    def __init__(self, loop: TrainingLoop, throttle: StepThrottle):
        self.throttle = throttle
        config, world, rank = loop.config, loop.world, loop.rank
        bounds = batch_bounds(len(loop.train_data), config.batch_size, world)
        self.per_epoch = len(bounds) - 1
        # samples this rank has trained on after b batches of an epoch (each takes every world-th sample)
        self.seen = bounds
        if world > 1:
            self.seen = [0]
            for start, end in zip(bounds, bounds[1:]):
                self.seen.append(self.seen[-1] + len(range(start + rank, end, world)))
        self.every = max(1, min(self.per_epoch, loop.steps) // throttle.points_per_epoch)
        self.mark_sum, self.mark_seen = float(loop.loss_sum), self.seen[loop.state.batch_in_epoch]
        self.carry_sum, self.carry_seen = 0.0, 0  # an epoch's tail that was not yet a point of its own
        self.batches, self.time = 0, time.monotonic()

    def due(self, batch: int, batches: int, now: float) -> bool:
        self.batches += 1
        since, throttle = now - self.time, self.throttle
        return (batch == batches or (self.batches >= self.every and since >= throttle.min_seconds)
                or since >= throttle.max_seconds)

    def take(self, loop: TrainingLoop, batch: int, batches: int, now: float) -> float | None:
        """The window's mean loss when a point goes out now, else None (the window goes on)."""
        total, seen = float(loop.loss_sum), self.seen[batch]
        window_sum = self.carry_sum + total - self.mark_sum
        window_seen = self.carry_seen + seen - self.mark_seen
        last = batch == batches
        final = last and loop.state.epoch + 1 >= loop.config.epochs  # the run's last batch: always a point
        if last and not final and now - self.time < self.throttle.min_seconds:  # too soon: joins the next point
            self.carry_sum, self.carry_seen, self.mark_sum, self.mark_seen = window_sum, window_seen, 0.0, 0
            return None
        self.carry_sum, self.carry_seen = 0.0, 0
        self.mark_sum, self.mark_seen = (0.0, 0) if last else (total, seen)  # the loop zeroes its sum per epoch
        self.batches, self.time = 0, now
        return window_sum / max(1, window_seen)


class ProgressEvents(Callback):
    """Emits fit_start, throttled batch_progress and train_step, and epoch_end events.

    A host sync (`loss.item()`, reading the loss sum) happens only when a progress event goes out.
    `train_step` carries the mean training loss since the previous one, at `step` (the loop's
    batch count, as in epoch_end), fractional `epoch` and the `lr` then; validation values arrive
    with epoch_end, which carries its `step` too.
    """

    def __init__(self, emit: Emit, checkpoint_dir: str = "", every_seconds: float = 0.25,
                 steps: StepThrottle = StepThrottle()):
        self.emit = emit
        self.steps = steps
        self.checkpoint_dir = checkpoint_dir
        self.every = every_seconds
        self._last = 0.0
        self.window: StepWindow | None = None

    def on_fit_start(self, loop: TrainingLoop) -> None:
        self.window = StepWindow(loop, self.steps)
        self.emit("fit_start", epochs=loop.config.epochs, device=str(loop.device),
                  train_size=len(loop.train_data),
                  val_size=len(loop.val_data) if loop.val_data is not None else 0,
                  monitor=loop.state.monitor, checkpoint_dir=self.checkpoint_dir)

    def on_batch_end(self, loop: TrainingLoop, batch: int, batches: int, loss: torch.Tensor) -> None:
        now = time.monotonic()
        window = self.window
        if window is not None and window.due(batch, batches, now):
            mean = window.take(loop, batch, batches, now)
            if mean is not None:
                state = loop.state
                self.emit("train_step", step=state.step, epoch=round(state.epoch + batch / window.per_epoch, 4),
                          loss=mean, lr=float(loop.optimizer.param_groups[0]["lr"]))
        if now - self._last >= self.every or batch == batches:
            self._last = now
            self.emit("batch_progress", epoch=loop.state.epoch + 1, epochs=loop.config.epochs,
                      batch=batch, batches=batches, loss=float(loss.detach()))

    def on_epoch_end(self, loop: TrainingLoop) -> None:
        state = loop.state
        self.emit("epoch_end", epoch=state.epoch, epochs=loop.config.epochs, step=state.step,
                  metrics=dict(state.metrics), monitor=state.monitor, improved=state.improved,
                  report=loop.epoch_report)
