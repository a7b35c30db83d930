"""The Checkpoints callback: periodic, best, final and interrupt files, each committed
to the manifest after a durable atomic write; retention and a free-space check."""
from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nodeflow import __version__
from nodeflow.core.errors import DataError, Issue
from nodeflow.core.files import in_folder
from nodeflow.training.checkpoint import BEST, FINAL, INTERRUPTED, PERIODIC, atomic_save
from nodeflow.training.loop import Callback, TrainingLoop
from nodeflow.training.manifest import commit_entry, make_entry, prune_periodic
from nodeflow.training.rng import capture_rng

Emit = Callable[..., None]


@dataclass(frozen=True)
class CheckpointPolicy:
    folder: Path
    every: int = 5
    max_checkpoints: int = 0  # periodic files kept; 0 keeps all. Best and final are never deleted.
    save_best_only: bool = False  # no periodic files
    info: Mapping[str, Any] = field(default_factory=dict)  # experiment, workflow_hash, device, run_id


class Checkpoints(Callback):
    def __init__(self, policy: CheckpointPolicy, emit: Emit, config: Mapping[str, Any], workflow_text: str = ""):
        self.policy = policy
        self.emit = emit
        self.config = dict(config)
        self.workflow_text = workflow_text  # provenance: the graph as run, in every checkpoint

    def on_fit_start(self, loop: TrainingLoop) -> None:
        try:
            self.policy.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(Issue(f"cannot create {self.policy.folder}: {exc.strerror}",
                                  field="checkpoint_dir")) from None

    def on_epoch_end(self, loop: TrainingLoop) -> None:
        epoch = loop.state.epoch
        if not self.policy.save_best_only and epoch % self.policy.every == 0:
            self._save(loop, PERIODIC.format(epoch=epoch), "periodic")
            self._prune_periodic()
        if loop.state.improved:
            self._save(loop, BEST, "best")

    def on_fit_end(self, loop: TrainingLoop) -> None:
        self._save(loop, FINAL, "final")

    def on_interrupt(self, loop: TrainingLoop) -> None:
        self._save(loop, INTERRUPTED, "interrupt")

    def _save(self, loop: TrainingLoop, name: str, kind: str) -> None:
        folder, path = self.policy.folder, self.policy.folder / name
        data = payload(loop, self.config)
        data["workflow"] = self.workflow_text

        def write() -> None:
            _check_free_space(folder, data)
            atomic_save(data, path)
            commit_entry(folder, name, make_entry(path, data, kind, dict(self.policy.info)))

        try:
            in_folder(folder, write)  # removed during the run: recreated, saving goes on
        except OSError as exc:
            raise RuntimeError(f"could not write checkpoint {path}: {exc.strerror or exc}; "
                               f"earlier checkpoints are intact") from None
        state = loop.state
        value = state.best if kind == "best" else state.metrics.get(state.monitor)
        self.emit("checkpoint_saved", kind=kind, path=str(path), epoch=state.epoch, step=state.step,
                  monitor=state.monitor, value=value)

    def _prune_periodic(self) -> None:
        if self.policy.max_checkpoints > 0:
            run_id = self.policy.info.get("run_id", "")
            for name in prune_periodic(self.policy.folder, self.policy.max_checkpoints, run_id):
                self.emit("checkpoint_deleted", path=str(self.policy.folder / name), reason="max_checkpoints")


def _check_free_space(folder: Path, data: Mapping[str, Any]) -> None:
    """Refuse to start a write that cannot fit, rather than fill the disk."""
    needed = _tensor_bytes(data) + (1 << 20)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(28, f"not enough free space ({free >> 20} MiB free, about {needed >> 20} MiB needed)")


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, Mapping):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


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
