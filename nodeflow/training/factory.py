"""Losses, optimizers and LR schedulers by name, as the Trainer's params choose them."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from nodeflow.core.errors import DataError, Issue
from nodeflow.training.data import CLASSIFICATION, DataBundle

LOSSES = ("auto", "cross_entropy", "bce", "mse", "l1", "smooth_l1")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "step", "cosine", "plateau")

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_REGRESSION_LOSSES: dict[str, LossFn] = {"mse": F.mse_loss, "l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss}


def make_loss(name: str, data: DataBundle) -> LossFn:
    """The loss for `name` on this data's task; a mismatch is a DataError on field 'loss'."""
    classify = data.task == CLASSIFICATION
    if name == "auto":
        name = "cross_entropy" if classify else "mse"
    if classify and name == "cross_entropy":
        return F.cross_entropy
    if classify and name == "bce":
        classes = data.num_classes
        return lambda out, y: F.binary_cross_entropy_with_logits(out, F.one_hot(y, classes).to(out.dtype))
    if not classify and name in _REGRESSION_LOSSES:
        return _REGRESSION_LOSSES[name]
    fits = "cross_entropy or bce" if classify else "mse, l1 or smooth_l1"
    raise DataError(Issue(f"loss {name!r} does not fit {data.task} data '{data.name}' (use {fits})",
                          field="loss"))


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float,
                   momentum: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def make_scheduler(name: str, optimizer: torch.optim.Optimizer, epochs: int, step_size: int,
                   gamma: float) -> Any:
    """An epoch-stepped scheduler, or None for 'none'. 'plateau' steps on the monitored value."""
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=gamma, patience=step_size)
    return None
