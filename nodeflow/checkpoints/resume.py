"""Resuming: choosing a verified checkpoint and restoring every piece of training state.

Restored: model, optimizer, scheduler, AMP scaler, epoch/step/batch position, best
value, epoch_losses and history, the RNGs (torch, CUDA, Python, NumPy) and the data
order, so a resumed run ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.ckpt_table import usable_file
from nodeflow.core.folder_names import inside
from nodeflow.core.manifest_edit import edit_entries
from nodeflow.training.manifest import read_manifest
from nodeflow.training.rng import restore_rng

if TYPE_CHECKING:
    from nodeflow.training.loop import TrainingLoop

# same step: same state; name the clearest
KIND_ORDER = {"interrupt": 5, "latest": 4, "final": 3, "periodic": 2, "best": 1}


def newest_valid(folder: Path, which: str = "auto") -> tuple[Path | None, list[tuple[str, str]]]:
    """The newest checkpoint whose manifest entry verifies (`which`: auto | best).

    Returns the path (or None) and the (file, reason) pairs that were skipped.
    """
    entries = read_manifest(folder)
    ranked = sorted(entries.items(), key=lambda item: (item[1].get("step", -1), item[1].get("epoch", -1),
                                                       KIND_ORDER.get(item[1].get("kind"), 0)), reverse=True)
    skipped: list[tuple[str, str]] = []
    for name, entry in ranked:
        if which == "best" and not entry.get("is_best"):
            continue
        source, problem = usable_file(folder / name, entry)
        if source is not None:  # the file, or its verified backup (loading says which)
            return folder / name, skipped
        skipped.append((name, problem))
    return None, skipped


def set_aside(folder: Path, name: str) -> Path | None:
    """Rename a file that failed verification to NAME.corrupt and drop its manifest entry."""
    path = inside(folder, name)
    target = path.with_name(name + ".corrupt") if path.is_file() else None
    if target is not None:
        os.replace(path, target)
    edit_entries(folder, lambda entries: entries.pop(name, None))
    return target


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Human lines for every value that differs between two saved configs."""
    lines: list[str] = []
    for key in sorted(set(old) | set(new)):
        if key in ("resume",):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            lines.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return lines


def restore_loop(loop: TrainingLoop, ckpt: Mapping[str, Any]) -> None:
    saved_world = int(ckpt.get("world_size") or 1)
    if ckpt.get("batch_in_epoch") and saved_world != loop.world:
        raise CheckpointError(Issue(f"this checkpoint was saved mid-epoch by {saved_world} process(es) and this "
                                    f"run has {loop.world}: a mid-epoch state resumes only under the same number; "
                                    "resume from the last epoch-boundary checkpoint instead "
                                    "(checkpoint_epoch_N.pt, or best/final)", field="resume"))
    try:
        loop.model.load_state_dict(ckpt["model_state_dict"])
        loop.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(Issue(f"checkpoint does not fit this model/optimizer: "
                                    f"{str(exc).splitlines()[0][:200]}", field="resume")) from None
    if loop.scheduler is not None and ckpt.get("scheduler_state_dict"):
        loop.scheduler.load_state_dict(ckpt["scheduler_state_dict"])
    if loop.scaler is not None and ckpt.get("scaler_state_dict"):
        loop.scaler.load_state_dict(ckpt["scaler_state_dict"])
    state = loop.state
    state.epoch, state.step = int(ckpt["epoch"]), int(ckpt.get("step", 0))
    state.batch_in_epoch = int(ckpt.get("batch_in_epoch", 0))
    state.epoch_losses = [float(v) for v in ckpt.get("epoch_losses", [])]
    state.history = {k: list(v) for k, v in (ckpt.get("history") or {}).items()}
    state.metrics = dict(ckpt.get("metrics") or {})
    if ckpt.get("monitor") == state.monitor:
        state.best, state.best_epoch = ckpt.get("best"), int(ckpt.get("best_epoch", 0))
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
