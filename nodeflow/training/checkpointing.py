"""The Checkpoints callback: periodic, best, final and interrupt files, each saved through
nodeflow.checkpoints.CheckpointManager (durable atomic write, manifest entry, backups), and retention."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nodeflow import __version__
from nodeflow.checkpoints import CheckpointManager
from nodeflow.core.errors import DataError, Issue
from nodeflow.core.layouts import Layout
from nodeflow.training.loop import Callback, TrainingLoop
from nodeflow.training.manifest import prune_periodic
from nodeflow.training.rng import capture_rng

Emit = Callable[..., None]


class Checkpoints(Callback):
    """`manager.config` gives the folder, save_interval (save_every_n_epochs), max_checkpoints
    (periodic files kept; best and final are never deleted), save_best_only, compression and backups;
    `layout` the file names (and, in the experiments layout, latest.pt after every epoch)."""

    def __init__(self, manager: CheckpointManager, emit: Emit, config: Mapping[str, Any], workflow_text: str = "",
                 info: Mapping[str, Any] | None = None, layout: Layout = Layout(), save_best: bool = True,
                 every_n_iters: int = 0):
        self.manager = manager
        self.every_n_iters = every_n_iters
        self.layout = layout
        self.save_best = save_best
        self.emit = emit
        self.config = dict(config)
        self.workflow_text = workflow_text  # provenance: the graph as run, in every checkpoint
        self.info = dict(info or {})  # experiment, workflow_hash, device, run_id

    def on_fit_start(self, loop: TrainingLoop) -> None:
        try:
            self.manager.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(Issue(f"cannot create {self.manager.folder}: {exc.strerror}",
                                  field="checkpoint_dir")) from None

    def on_batch_end(self, loop: TrainingLoop, batch: int, batches: int, loss: Any) -> None:
        """save_every_n_iters: a periodic file inside the epoch, at the end of an accumulation only."""
        every = self.every_n_iters
        if every and batch < batches and batch % loop.accum == 0 and loop.state.step % every == 0 \
                and not self.manager.config.save_best_only:
            self._save(loop, self.layout.periodic_step(loop.state.step), "periodic")
            self._prune_periodic()

    def on_epoch_end(self, loop: TrainingLoop) -> None:
        epoch, config, layout = loop.state.epoch, self.manager.config, self.layout
        periodic = best = None
        if not config.save_best_only and epoch % config.save_interval == 0:
            periodic = self._save(loop, layout.periodic(epoch), "periodic")
        if loop.state.improved and self.save_best:  # the same state as the periodic file: serialized once
            best = self._save(loop, layout.best, "best", same_as=periodic)
        if layout.latest:
            self._save(loop, layout.latest, "latest", same_as=periodic or best)
        if periodic is not None:
            self._prune_periodic()

    def on_fit_end(self, loop: TrainingLoop) -> None:
        if self.layout.final:  # experiments: latest.pt already holds the final state
            self._save(loop, self.layout.final, "final")

    def on_interrupt(self, loop: TrainingLoop) -> None:
        self._save(loop, self.layout.interrupt, "interrupt")

    def _save(self, loop: TrainingLoop, name: str, kind: str, same_as: Path | None = None) -> Path:
        data = payload(loop, self.config)
        data["workflow"] = self.workflow_text
        if self.layout.experiments:  # seed 003's key: the best monitored value (an accuracy or not)
            data["best_acc"] = loop.state.best
        try:
            path = self.manager.save_file(name, data, kind, self.info, same_as=same_as)
        except OSError as exc:
            raise RuntimeError(f"could not write checkpoint {self.manager.folder / name}: {exc.strerror or exc}; "
                               f"earlier checkpoints are intact") from None
        state = loop.state
        value = state.best if kind == "best" else state.metrics.get(state.monitor)
        self.emit("checkpoint_saved", kind=kind, path=str(path), epoch=state.epoch, step=state.step,
                  monitor=state.monitor, value=value)
        return path

    def _prune_periodic(self) -> None:
        keep, folder = self.manager.config.max_checkpoints, self.manager.folder
        if keep > 0:
            for name in prune_periodic(folder, keep, self.info.get("run_id", "")):
                self.emit("checkpoint_deleted", path=str(folder / name), reason="max_checkpoints")


def payload(loop: TrainingLoop, config: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint dict: seed keys first, then what exact resume needs."""
    state = loop.state
    mid_epoch = state.batch_in_epoch > 0
    rng = capture_rng(loop.loader_generator)
    if mid_epoch:  # resume replays this epoch's data order, then skips the batches done
        rng["loader"] = loop.epoch_start_loader_state
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
        "epoch_loss_sum": loop.loss_sum.detach().cpu().clone() if mid_epoch else None,
        "epoch_correct": loop.correct.detach().cpu().clone() if mid_epoch else None,
        "metrics": dict(state.metrics),
        "history": {k: list(v) for k, v in state.history.items()},
        "monitor": state.monitor,
        "best": state.best,
        "best_epoch": state.best_epoch,
        "rng": rng,
        "nodeflow_version": __version__,
    }
