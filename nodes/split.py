"""The Split node: train / validation / test subsets, seeded and optionally stratified."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec, RunContext


def check_split(c: CheckInput) -> list[tuple[str, str]]:
    held_out = c.params["val_fraction"] + c.params["test_fraction"]
    if held_out >= 1.0:
        return [("val_fraction", f"val_fraction + test_fraction must be below 1 (got {held_out:g})")]
    return []


def _split_off(index: np.ndarray, labels: np.ndarray | None, fraction: float,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    if fraction <= 0:
        return index, index[:0]
    try:
        keep, out = train_test_split(index, test_size=fraction, random_state=seed,
                                     stratify=labels[index] if labels is not None else None)
    except ValueError as exc:
        hint = " (or set stratify to false)" if labels is not None else ""
        raise DataError(Issue(f"cannot split: {exc}{hint}", field="stratify")) from None
    return np.sort(keep), np.sort(out)


def run_split(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    data = inputs["dataset"]
    labels = data.labels.numpy() if params["stratify"] and data.labels is not None else None
    index = np.arange(len(data))
    test_frac, val_frac = params["test_fraction"], params["val_fraction"]
    rest, test = _split_off(index, labels, test_frac, params["seed"])
    train, val = _split_off(rest, labels, val_frac / (1 - test_frac), params["seed"])
    if len(train) == 0:
        raise DataError(Issue(f"no samples left for training out of {len(data)}", field="val_fraction"))

    def part(ix: np.ndarray, name: str) -> Any:
        return data.subset(torch.from_numpy(ix), f"{data.name}/{name}") if len(ix) else None

    ctx.log(f"Split {len(data)} samples: train {len(train)}, val {len(val)}, test {len(test)}")
    return {"train": part(train, "train"), "val": part(val, "val"), "test": part(test, "test")}


def empty_parts(params: Mapping[str, Any]) -> set[str]:
    return {port for port, key in (("val", "val_fraction"), ("test", "test_fraction")) if params[key] == 0}


SPLIT = NodeSpec(
    type="data.split", title="Split", category="Data", run=run_split, check=check_split,
    empty_outputs=empty_parts,
    description="Splits a dataset into train, validation and test parts (scikit-learn; stratified when "
                "the data has one class per sample).",
    inputs=(PortSpec("dataset", "dataset", "Data to split (any task; in memory or lazy)"),),
    outputs=(
        PortSpec("train", "dataset", "Training part", passes="dataset"),
        PortSpec("val", "dataset", "Validation part (empty when val_fraction is 0)", optional=True, passes="dataset"),
        PortSpec("test", "dataset", "Test part (empty when test_fraction is 0)", optional=True, passes="dataset"),
    ),
    params=(
        ParamSpec("val_fraction", "float", 0.15, "Share of samples for validation", min=0.0, max=0.95),
        ParamSpec("test_fraction", "float", 0.15, "Share of samples for testing", min=0.0, max=0.95),
        ParamSpec("stratify", "bool", True, "Keep class proportions equal in every part"),
        ParamSpec("seed", "int", 0, "Random seed of the split", min=0, max=2**31 - 1),
    ),
)

NODES = [SPLIT]
