"""What a loaded checkpoint may hold: the type of every field NodeFlow reads back from it.

A checkpoint file is untrusted input, even one that unpickles cleanly under weights_only: its
`epoch` may be a string, its `model_state_dict` a list, its `history` a number. `check_payload`
looks at every field a reader uses (`ckpt show`, `plot`, `compare`, `export`, resume,
restore_model) and refuses the file with one line naming the file and the field, before
any caller trips over it. `check_resumable` adds what continuing a run needs.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.printable import shown

BIG = 1 << 62  # counts above this are not a run's (and overflow torch's int64)


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= BIG


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_numbers(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(is_number(v) for v in value)


def is_history(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and is_numbers(v) for k, v in value.items())


def is_str_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


def is_optimizer_state(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("state"), dict) and \
        isinstance(value.get("param_groups"), list) and all(isinstance(g, dict) for g in value["param_groups"])


def is_total(value: Any) -> bool:
    return isinstance(value, torch.Tensor) or is_number(value)


# field: (test, what it must be); a field that is absent or None is not checked
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "epoch": (is_count, "a whole number from 0"),
    "step": (is_count, "a whole number from 0"),
    "batch_in_epoch": (is_count, "a whole number from 0"),
    "best_epoch": (is_count, "a whole number from 0"),
    "stale_epochs": (is_count, "a whole number from 0"),
    "stopped_early": (is_count, "a whole number from 0"),
    "world_size": (lambda v: is_count(v) and v >= 1, "a whole number from 1"),
    "loss": (is_number, "a number"),
    "best": (is_number, "a number"),
    "epoch_losses": (is_numbers, "a list of numbers"),
    "history": (is_history, "a dict of metric name -> list of numbers"),
    "metrics": (is_str_dict, "a dict of metric name -> value"),
    "config": (is_str_dict, "a dict"),
    "monitor": (lambda v: isinstance(v, str), "a string"),
    "workflow": (lambda v: isinstance(v, str), "a string"),
    "optimizer_state_dict": (is_optimizer_state, "an optimizer state_dict ('state' and 'param_groups')"),
    "scheduler_state_dict": (is_str_dict, "a dict"),
    "scaler_state_dict": (is_str_dict, "a dict"),
    "rng": (is_str_dict, "a dict"),
    "rng_ranks": (lambda v: isinstance(v, list) and all(is_str_dict(r) for r in v), "a list of dicts"),
    "epoch_loss_sum": (is_total, "a tensor or a number"),
    "epoch_correct": (is_total, "a tensor or a number"),
    "epoch_extra_sums": (lambda v: is_str_dict(v) and all(is_total(t) for t in v.values()),
                         "a dict of tensors or numbers"),
}
CONFIG_PARTS = ("model", "trainer", "data")  # each a dict when present


def check_payload(data: Any, label: str) -> dict[str, Any]:
    """`data` itself when every field a reader uses has its type; else CheckpointError naming the field."""
    if not isinstance(data, dict):
        raise CheckpointError(Issue(f"not a NodeFlow checkpoint: the file holds a {type(data).__name__}, "
                                    "not a dict", file=label))
    if "model_state_dict" not in data:
        raise CheckpointError(Issue("not a NodeFlow checkpoint: no 'model_state_dict'", file=label))
    check_state_dict(data["model_state_dict"], label, "model_state_dict")
    for name, (test, what) in FIELDS.items():
        value = data.get(name)
        if value is not None and not test(value):
            raise CheckpointError(Issue(f"must be {what}, got {shown(value)}", field=name, file=label))
    config = data.get("config") or {}
    for part in CONFIG_PARTS:
        if config.get(part) is not None and not is_str_dict(config[part]):
            raise CheckpointError(Issue(f"must be a dict, got {shown(config[part])}", field=f"config.{part}",
                                        file=label))
    return data


def check_state_dict(weights: Any, label: str, field: str = "model_state_dict") -> None:
    """A state_dict: parameter names (strings) to tensors."""
    if not isinstance(weights, dict):
        raise CheckpointError(Issue(f"must be a dict of tensors, got {shown(weights)}", field=field, file=label))
    for key, value in weights.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(Issue(f"must map names to tensors, got {shown(key)} -> {shown(value)}",
                                        field=field, file=label))


def check_resumable(data: dict[str, Any], label: str) -> None:
    """What continuing a run reads beyond check_payload: its epoch, its optimizer's state and its
    random generators' state, each of the shape the training loop puts back."""
    for name in ("epoch", "optimizer_state_dict"):
        if data.get(name) is None:
            raise CheckpointError(Issue(f"cannot resume from this file: it has no {name!r} (a file saved for "
                                        "inference or by another tool; load it with LoadCheckpoint instead)",
                                        field=name, file=label))
    groups = data["optimizer_state_dict"]["param_groups"]
    if not all(isinstance(g.get("params"), list) and all(is_count(i) for i in g["params"]) for g in groups):
        raise CheckpointError(Issue("every param group must list its parameters' numbers ('params')",
                                    field="optimizer_state_dict.param_groups", file=label))
    for n, rng in enumerate([data["rng"]] if data.get("rng") is not None else data.get("rng_ranks") or []):
        problem = rng_problem(rng)
        if problem:
            raise CheckpointError(Issue(f"not a saved random state: {problem}",
                                        field="rng" if data.get("rng") is not None else f"rng_ranks.{n}", file=label))


RNG_PARTS: dict[str, Callable[[Any], bool]] = {
    "torch": lambda v: isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1,
    "loader": lambda v: isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1,
    "cuda": lambda v: isinstance(v, list) and all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in v),
    "python": lambda v: isinstance(v, tuple) and len(v) == 3 and isinstance(v[1], tuple)
    and all(is_count(i) for i in v[1]),
    "numpy": lambda v: is_str_dict(v) and isinstance(v.get("keys"), torch.Tensor) and isinstance(v.get("kind"), str)
    and is_count(v.get("pos")) and is_count(v.get("has_gauss")) and is_number(v.get("cached_gaussian")),
}


def rng_problem(rng: Any) -> str | None:
    """Which part of a saved random state is missing or of the wrong type, or None."""
    for part, test in RNG_PARTS.items():
        if part not in rng or not test(rng[part]):
            return f"{part!r} is missing or of the wrong type"
    return None
