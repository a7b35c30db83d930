"""The Augment node: resize and normalize every sample; random crop, flips, rotation, colour
jitter and erasing on training batches only (nodeflow.training.augment, plain torch ops)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import IMAGE_TASKS, SEGMENTATION
from nodeflow.training.augment import Augment


def _numbers(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.replace(" ", "").split(",") if v)


def check_augment(c: CheckInput) -> list[tuple[str, str]]:
    problems = []
    for name in ("mean", "std"):
        try:
            values = _numbers(c.params[name])
        except ValueError:
            problems.append((name, f"{c.params[name]!r} is not a comma-separated list of numbers"))
            continue
        if name == "std" and any(v <= 0 for v in values):
            problems.append((name, "every std must be above 0"))
    if not problems and bool(c.params["mean"]) != bool(c.params["std"]):
        problems.append(("std" if c.params["mean"] else "mean", "set both mean and std, or neither"))
    return problems


def run_augment(ctx: RunContext, inputs: Mapping[str, Any], p: Mapping[str, Any]) -> dict[str, Any]:
    data = inputs["dataset"]
    if len(data.input_shape) != 3:
        raise DataError(Issue(f"Augment needs images shaped [channels, height, width]; '{data.name}' gives "
                              f"{data.input_shape}", field="dataset"))
    channels = data.input_shape[0]
    mean, std = _numbers(p["mean"]), _numbers(p["std"])
    for name, values in (("mean", mean), ("std", std)):
        if values and len(values) not in (1, channels):
            raise DataError(Issue(f"{len(values)} {name} values for {channels}-channel images", field=name))
    augment = Augment(p["resize"], mean, std, p["crop_padding"], p["hflip"], p["vflip"], p["rotation"],
                      p["brightness"], p["contrast"], p["saturation"], p["erasing"], data.task == SEGMENTATION)
    size = p["resize"] or data.input_shape[1]
    shape = [channels, size, size] if p["resize"] else data.input_shape
    if data.lazy:  # everything per sample, in the workers
        return {"dataset": replace(data, augment=augment, input_shape=shape)}
    x, y = augment.fixed(data.x, data.y)  # once, up front; only the random part runs per batch
    return {"dataset": replace(data, x=x.contiguous(), y=y.contiguous(), augment=augment.random_only())}


def _chance(name: str, label: str, what: str) -> ParamSpec:
    return ParamSpec(name, "float", 0.0, f"Probability of {what} (training only)", min=0.0, max=1.0, label=label)


def _amount(name: str, what: str) -> ParamSpec:
    return ParamSpec(name, "float", 0.0, f"{what}: a factor in [1 - v, 1 + v] per image (training only)",
                     min=0.0, max=1.0)


AUGMENT = NodeSpec(
    type="data.augment", title="Augment", category="Data", run=run_augment, check=check_augment,
    inputs=(PortSpec("dataset", "dataset", "Images (masks get the same geometric transforms)", tasks=IMAGE_TASKS),),
    outputs=(PortSpec("dataset", "dataset", "The same data, transformed", passes="dataset"),),
    description="Resize and normalize every image; random crop, flips, rotation, colour jitter and "
                "erasing on training batches only, seeded by the Trainer's seed. Put it before Split so "
                "validation data is resized and normalized too.",
    params=(
        ParamSpec("resize", "int", 0, "Resize to this many pixels square (0: keep)", min=0, max=4096),
        ParamSpec("mean", "str", "", "Per-channel mean to subtract, e.g. 0.5,0.5,0.5 (empty: none)", allow_empty=True),
        ParamSpec("std", "str", "", "Per-channel std to divide by, e.g. 0.25,0.25,0.25", allow_empty=True),
        ParamSpec("crop_padding", "int", 0, "Random crop after padding by this many pixels (0: off)", min=0, max=256),
        _chance("hflip", "Horizontal flip", "a horizontal flip"),
        _chance("vflip", "Vertical flip", "a vertical flip"),
        ParamSpec("rotation", "float", 0.0, "Random rotation in [-v, v] degrees (training only)", min=0.0, max=180.0),
        _amount("brightness", "Brightness"),
        _amount("contrast", "Contrast"),
        _amount("saturation", "Saturation (RGB only)"),
        _chance("erasing", "Random erasing", "blanking a random rectangle"),
    ),
)

NODES = [AUGMENT]
