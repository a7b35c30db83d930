"""The Split node: train / validation / test subsets, seeded and optionally stratified."""
from __future__ import annotations

from collections.abc import Mapping
from math import ceil
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
    """`index` cut into (keep, out), `out` a `fraction` of it: the same parts as scikit-learn's
    train_test_split(index, test_size=fraction, random_state=seed, stratify=labels[index]), drawn here
    because importing scikit-learn costs a second of every run's start."""
    if fraction <= 0:
        return index, index[:0]
    n_out = ceil(fraction * len(index))
    n_keep = len(index) - n_out
    rng = np.random.RandomState(seed)
    hint = " (or set stratify to false)" if labels is not None else ""
    if n_keep <= 0:
        raise DataError(Issue(f"cannot split: {len(index)} samples leave none to keep after taking {fraction:g} "
                              "of them", field="val_fraction"))
    if labels is None:
        order = rng.permutation(len(index))
        return np.sort(index[order[n_out:]]), np.sort(index[order[:n_out]])
    y = labels[index]
    if y.ndim == 2:  # one class per distinct row
        y = np.array([" ".join(row.astype("str")) for row in y])
    classes, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    problem = (f"the least populated classes have only 1 member ({classes[counts < 2].tolist()})" if counts.min() < 2
               else f"{n_keep} samples to keep cannot hold all {len(classes)} classes" if n_keep < len(classes)
               else f"{n_out} samples to take cannot hold all {len(classes)} classes" if n_out < len(classes) else "")
    if problem:
        raise DataError(Issue(f"cannot split: {problem}{hint}", field="stratify"))
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    keep_n = _approximate_mode(counts, n_keep, rng)
    out_n = _approximate_mode(counts - keep_n, n_out, rng)
    keep: list[int] = []
    out: list[int] = []
    for members, k, o in zip(by_class, keep_n, out_n, strict=True):
        shuffled = members.take(rng.permutation(len(members)), mode="clip")
        keep.extend(shuffled[:k])
        out.extend(shuffled[k:k + o])
    return np.sort(index[rng.permutation(keep)]), np.sort(index[rng.permutation(out)])


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `draws` each class gets, in proportion, ties broken at random (scikit-learn's rule)."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    need = int(draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (where,) = np.where(remainder == value)
            now = min(len(where), need)
            floored[rng.choice(where, size=now, replace=False)] += 1
            need -= now
            if need == 0:
                break
    return floored.astype(int)


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
    description="Splits a dataset into train, validation and test parts (the parts scikit-learn's "
                "train_test_split draws; stratified when the data has one class per sample).",
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
