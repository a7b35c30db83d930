"""Losses, optimizers and LR schedulers by name, as the Trainer's params choose them."""
from __future__ import annotations

import math
from typing import Any

import torch

from nodeflow.core.tasks import ALL_LOSSES
from nodeflow.training.tasks import LossFn
from nodeflow.training.tasks import make_loss as task_loss

LOSSES = ("auto",) + ALL_LOSSES
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "step", "cosine", "plateau", "warmup_cosine")
PER_BATCH = "warmup_cosine"  # stepped after every optimizer step, not every epoch


def make_loss(name: str, data: Any) -> LossFn:
    """The loss for `name` on this data's task; a mismatch is a DataError on field 'loss'."""
    return task_loss(name, data.task, data.num_classes, data.name)


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float, momentum: float,
                   beta2: float = 0.999) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    betas = (0.9, beta2)
    if name == "adamw":  # no decay on biases and norm weights (what GPT-2 and nanoGPT do)
        params = list(params)
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, betas=betas)


def make_scheduler(name: str, optimizer: torch.optim.Optimizer, epochs: int, step_size: int,
                   gamma: float, steps: int = 0, warmup: int = 0, min_lr: float = 0.0) -> Any:
    """A scheduler, or None for 'none'. Epoch-stepped, except warmup_cosine (per optimizer step,
    `steps` in all); 'plateau' steps on the monitored value."""
    if name == PER_BATCH:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(steps, warmup, min_lr,
                                                                         optimizer.param_groups[0]["lr"]))
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=gamma, patience=step_size)
    return None


class WarmupCosine:
    """nanoGPT's schedule as a factor of the base lr: linear warmup over `warmup` steps, then a
    cosine decay that reaches min_lr at step `steps`."""

    def __init__(self, steps: int, warmup: int, min_lr: float, lr: float):
        self.steps, self.warmup, self.floor = steps, warmup, min(min_lr / lr, 1.0)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if step >= self.steps:
            return self.floor
        done = (step - self.warmup) / max(self.steps - self.warmup, 1)
        return self.floor + 0.5 * (1 + math.cos(math.pi * done)) * (1 - self.floor)
