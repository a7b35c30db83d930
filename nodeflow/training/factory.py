"""Losses, optimizers and LR schedulers by name, as the Trainer's params choose them."""
from __future__ import annotations

from typing import Any

import torch

from nodeflow.core.tasks import ALL_LOSSES
from nodeflow.training.tasks import LossFn
from nodeflow.training.tasks import make_loss as task_loss

LOSSES = ("auto",) + ALL_LOSSES
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "step", "cosine", "plateau")


def make_loss(name: str, data: Any) -> LossFn:
    """The loss for `name` on this data's task; a mismatch is a DataError on field 'loss'."""
    return task_loss(name, data.task, data.num_classes, data.name)


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
