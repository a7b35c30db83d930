"""A training loop's whole state as a checkpoint dict, and back: what exact resume saves and restores.

Saved and restored: model, optimizer, scheduler, AMP scaler, epoch/step/batch position, best
value, epoch_losses and history, the epoch's running sums when saved mid-epoch, the RNGs
(torch, CUDA, Python, NumPy) and the data order, so a resumed run ends bit-identical to an
uninterrupted one. The standard keys (epoch, model_state_dict, optimizer_state_dict, …,
config) come first, so a plain `torch.load(path)` shows them first.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from nodeflow.version import __version__
from nodeflow.checkpoints.model_state import STATE_IS, TRAINABLE, base_problem, saved_state
from nodeflow.checkpoints.torch_files import check_weights
from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.training import distributed, resume_settings
from nodeflow.training.rng import capture_rng, restore_rng

if TYPE_CHECKING:
    from nodeflow.training.loop import TrainingLoop


def state_dict(loop: TrainingLoop, config: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint dict: the standard keys first, then what exact resume needs."""
    state = loop.state
    mid_epoch = state.batch_in_epoch > 0
    loss_sum, correct = loop.loss_sum.detach().clone(), loop.correct.detach().clone()
    extras = {name: total.detach().clone() for name, total in loop.extra_sums.items()}
    if mid_epoch:  # the epoch's running sums over every rank (a collective: all ranks build the payload)
        distributed.all_sum(loss_sum, correct, *extras.values())
    rng = capture_rng(loop.loader_generator)
    if mid_epoch:  # resume replays this epoch's data order, then skips the batches done
        rng["loader"] = loop.epoch_start_loader_state
    rng_ranks = distributed.gathered(rng) if loop.world > 1 else None  # each rank's dropout stream
    weights, marker = saved_state(loop.model)  # a frozen base is not saved: only what trains (model_state)
    return {
        "epoch": state.epoch,
        "model_state_dict": weights,
        **marker,
        "optimizer_state_dict": loop.optimizer.state_dict(),
        "scheduler_state_dict": loop.scheduler.state_dict() if loop.scheduler is not None else None,
        "scaler_state_dict": loop.scaler.state_dict() if loop.scaler is not None else None,
        "loss": state.epoch_losses[-1] if state.epoch_losses else None,
        "epoch_losses": list(state.epoch_losses),
        "config": dict(config),
        "step": state.step,
        "batch_in_epoch": state.batch_in_epoch,
        "epoch_loss_sum": loss_sum.cpu() if mid_epoch else None,
        "epoch_correct": correct.cpu() if mid_epoch else None,
        "epoch_extra_sums": {name: total.cpu() for name, total in extras.items()} if mid_epoch else None,
        "world_size": loop.world,
        "rng_ranks": rng_ranks,
        "metrics": dict(state.metrics),
        "history": {k: list(v) for k, v in state.history.items()},
        "monitor": state.monitor,
        "best": state.best,
        "best_epoch": state.best_epoch,
        "stale_epochs": state.stale_epochs,
        "stopped_early": state.stopped_early,
        "rng": rng,
        "nodeflow_version": __version__,
    }


def load_state_dict(loop: TrainingLoop, ckpt: Mapping[str, Any]) -> None:
    """Put a checkpoint's state back: where `state_dict` saved it, the run continues bit for bit."""
    saved_world = int(ckpt.get("world_size") or 1)
    if ckpt.get("batch_in_epoch") and saved_world != loop.world:
        raise CheckpointError(Issue(f"this checkpoint was saved mid-epoch by {saved_world} process(es) and this "
                                    f"run has {loop.world}: a mid-epoch state resumes only under the same number; "
                                    "resume from the last epoch-boundary checkpoint instead "
                                    "(checkpoint_epoch_N.pt, or best/final)", field="resume"))
    fresh = resume_settings.before_load(loop)
    if ckpt.get(STATE_IS) == TRAINABLE:  # only what trained: over this run's base, the one it trained on
        problem = base_problem(dict((ckpt.get("config") or {}).get("model") or {}), loop.model)
        if problem:
            raise CheckpointError(Issue(f"cannot resume: {problem}", field="resume"))
    try:
        partial = check_weights(loop.model, ckpt["model_state_dict"], "", "this run's model")
        loop.model.load_state_dict(ckpt["model_state_dict"], strict=not partial)
        loop.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(Issue(f"checkpoint does not fit this model/optimizer: "
                                    f"{str(exc).splitlines()[0][:200]}", field="resume")) from None
    if loop.scheduler is not None and ckpt.get("scheduler_state_dict"):
        loop.scheduler.load_state_dict(ckpt["scheduler_state_dict"])
    if loop.scaler is not None and ckpt.get("scaler_state_dict"):
        loop.scaler.load_state_dict(ckpt["scaler_state_dict"])
    loop.applied = resume_settings.after_load(loop, fresh, (ckpt.get("config") or {}).get("trainer") or {})
    state = loop.state
    state.epoch, state.step = int(ckpt["epoch"]), int(ckpt.get("step", 0))
    state.batch_in_epoch = int(ckpt.get("batch_in_epoch", 0))
    state.epoch_losses = [float(v) for v in ckpt.get("epoch_losses", [])]
    state.history = {k: list(v) for k, v in (ckpt.get("history") or {}).items()}
    state.metrics = dict(ckpt.get("metrics") or {})
    if ckpt.get("monitor") == state.monitor:
        state.best, state.best_epoch = ckpt.get("best"), int(ckpt.get("best_epoch", 0))
        state.stale_epochs = int(ckpt.get("stale_epochs") or 0)
    ranks = ckpt.get("rng_ranks") or []
    rng = ranks[loop.rank] if len(ranks) == loop.world else ckpt.get("rng")  # another world size: rank 0's
    if rng is not None:
        restore_rng(rng, loop.loader_generator)
    loop.epoch_start_loader_state = loop.loader_generator.get_state()
    if state.batch_in_epoch and loop.rank == 0:  # the saved sums are over all ranks: counted once
        loop.loss_sum.copy_(torch.as_tensor(ckpt["epoch_loss_sum"]))
        loop.correct.copy_(torch.as_tensor(ckpt["epoch_correct"]))
        for name, total in (ckpt.get("epoch_extra_sums") or {}).items():
            if name in loop.extra_sums:
                loop.extra_sums[name].copy_(torch.as_tensor(total))
