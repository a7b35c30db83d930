"""A resumed run uses the settings it was started with, not the checkpoint's.

Loading an optimizer's or scheduler's state brings back the hyperparameters it was saved with
(the learning rate above all), so a user who changed `lr` or `epochs` before continuing would
train on the old values while the records showed the new ones. Around the load:

- `before_load` notes what this run's freshly built optimizer and scheduler hold;
- `after_load` puts the settings back (learning rate, weight decay, momentum, betas; the
  schedule's length and shape) and keeps the progress (moments, step counts, the decay so far);
  a changed learning rate scales the scheduled one, so a decayed schedule stays decayed;
- `refuse_changed_kind` stops a run whose optimizer or scheduler type changed: their saved state
  does not fit another kind.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodeflow.core.errors import CheckpointError, Issue

if TYPE_CHECKING:
    from nodeflow.training.loop import TrainingLoop

HYPERPARAMETERS = ("weight_decay", "momentum", "betas", "dampening", "nesterov", "eps")
SCHEDULE = ("T_max", "eta_min", "step_size", "gamma", "factor", "patience", "threshold", "min_lrs")
KINDS = (("optimizer", "adam"), ("scheduler", "none"))  # Trainer param, its default


@dataclass(frozen=True)
class Fresh:
    """What this run's own optimizer and scheduler were built with."""

    groups: list[dict[str, Any]]
    schedule: dict[str, Any]
    lambdas: list[dict[str, Any]]


def refuse_changed_kind(saved: Mapping[str, Any], now: Mapping[str, Any]) -> None:
    """One line when the optimizer or scheduler type differs from the checkpoint's."""
    for name, default in KINDS:
        before, after = saved.get(name, default), now.get(name, default)
        if before != after:
            raise CheckpointError(Issue(f"{name} cannot change on resume: the checkpoint was trained with "
                                        f"{before!r}, this run asks for {after!r}; start a new run to change it",
                                        field=name))


def before_load(loop: TrainingLoop) -> Fresh:
    scheduler = loop.scheduler
    return Fresh(
        groups=[{k: v for k, v in group.items() if k in HYPERPARAMETERS} for group in loop.optimizer.param_groups],
        schedule={k: copy.copy(getattr(scheduler, k)) for k in SCHEDULE if hasattr(scheduler, k)},
        lambdas=[copy.copy(vars(f)) for f in getattr(scheduler, "lr_lambdas", []) if hasattr(f, "__dict__")])


def after_load(loop: TrainingLoop, fresh: Fresh, saved: Mapping[str, Any]) -> list[str]:
    """Apply this run's settings to the restored state (`saved`: the Trainer params the checkpoint
    was trained with); one line per setting that changed."""
    lines: list[str] = []
    groups = loop.optimizer.param_groups
    old_lr, new_lr = saved.get("lr"), loop.config.lr
    if isinstance(old_lr, int | float) and old_lr > 0 and not math.isclose(old_lr, new_lr, rel_tol=1e-12):
        ratio = new_lr / old_lr  # the scheduled rate keeps its decay so far
        for group in groups:
            group["lr"] *= ratio
            if "initial_lr" in group:
                group["initial_lr"] *= ratio
        if hasattr(loop.scheduler, "base_lrs"):
            loop.scheduler.base_lrs = [lr * ratio for lr in loop.scheduler.base_lrs]
        lines.append(f"learning rate {old_lr:g} -> {new_lr:g}")
    for key in HYPERPARAMETERS:
        changed = [(group[key], own[key]) for group, own in zip(groups, fresh.groups, strict=True)
                   if key in own and group.get(key) != own[key]]
        for group, own in zip(groups, fresh.groups, strict=True):
            if key in own:
                group[key] = own[key]
        if changed:
            lines.append(f"{key.replace('_', ' ')} {_shown(changed[0][0])} -> {_shown(changed[0][1])}")
    scheduler = loop.scheduler
    for key, value in fresh.schedule.items():
        if getattr(scheduler, key) != value:
            lines.append(f"schedule {key} {_shown(getattr(scheduler, key))} -> {_shown(value)}")
            setattr(scheduler, key, value)
    for function, own in zip(getattr(scheduler, "lr_lambdas", []), fresh.lambdas, strict=False):
        if vars(function) != own:
            if own.get("steps") != vars(function).get("steps"):
                lines.append(f"schedule length {vars(function).get('steps')} -> {own.get('steps')} steps")
            vars(function).update(own)
    if lines:
        _rate_now(loop)
    return lines


def _rate_now(loop: TrainingLoop) -> None:
    """Each group's rate where the changed schedule puts it now. A cosine schedule steps from the rate it
    holds: one that had ended at 0, stretched over more epochs, would have stayed at 0."""
    scheduler = loop.scheduler
    if hasattr(scheduler, "_get_closed_form_lr"):  # CosineAnnealingLR, StepLR: the rate at last_epoch
        rates = list(scheduler._get_closed_form_lr())
    elif hasattr(scheduler, "lr_lambdas"):  # LambdaLR (warmup_cosine)
        rates = [base * f(scheduler.last_epoch) for base, f in zip(scheduler.base_lrs, scheduler.lr_lambdas,
                                                                     strict=True)]
    else:
        return
    for group, rate in zip(loop.optimizer.param_groups, rates, strict=True):
        group["lr"] = rate
    scheduler._last_lr = list(rates)


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
