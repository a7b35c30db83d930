"""What flows along `dataset` links: a dataset plus the task it serves (nodeflow.core.tasks).

Two kinds, one contract (len, task, name, class_names, info, input_shape, output_size,
subset, describe, labels, sample):
- DataBundle: in-memory tensors `x` and `y` (the task's two fields). The loop indexes them
  directly, with no DataLoader: the fast path that keeps parity with a hand-written loop.
- LazyData: a map-style source that reads and decodes one sample at a time, fed through a
  DataLoader with workers (nodeflow.training.batches), for data larger than memory.
Both may carry an `augment` (nodeflow.training.augment) applied while training only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.tasks import (CLASSIFICATION, CONTRASTIVE, LANGUAGE_MODELLING, MULTILABEL, REGRESSION,
                                 SEGMENTATION, SEQUENCE_CLASSIFICATION, TASKS, TOKEN_INPUTS)

LABELLED = (CLASSIFICATION, SEQUENCE_CLASSIFICATION)  # one class id per sample: stratified splits
INTEGER_TARGETS = (SEGMENTATION, LANGUAGE_MODELLING, CONTRASTIVE)


@dataclass(frozen=True)
class DataBundle:
    """Features `x` (float32, [N, ...]) and targets `y` (int64 class ids, or float32 [N, k])."""

    x: torch.Tensor
    y: torch.Tensor
    task: str
    class_names: tuple[str, ...] = ()
    name: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)  # plain values, saved in checkpoints
    augment: Any = None  # random transforms applied to training batches (on the device)
    lazy = False

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def labels(self) -> torch.Tensor | None:
        return self.y if self.task in LABELLED else None

    def sample(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> list[int]:
        return [int(d) for d in self.x.shape[1:]]

    @property
    def output_size(self) -> int:
        """Width of the model's last layer for this data."""
        return output_size(self.task, self.class_names, int(self.y.shape[-1]) if self.y.dim() > 1 else 1, self.info)

    def subset(self, index: torch.Tensor, name: str) -> DataBundle:
        return replace(self, x=self.x[index], y=self.y[index], name=name)

    def describe(self) -> dict[str, Any]:
        return describe(self)


def output_size(task: str, class_names: tuple[str, ...], target_width: int, info: Mapping[str, Any]) -> int:
    """Width of the model's last layer: the vocabulary, the classes, or the targets' width."""
    if "vocab_size" in info and task != SEQUENCE_CLASSIFICATION:
        return int(info["vocab_size"])
    if class_names and task != REGRESSION:
        return len(class_names)
    return target_width if task in (REGRESSION, MULTILABEL) else 1


def describe(data: Any) -> dict[str, Any]:
    """Plain description for checkpoint configs (no tensors); a tokenizer travels as JSON text."""
    return {"name": data.name, "task": data.task, "input_shape": data.input_shape,
            "output_size": data.output_size, "class_names": list(data.class_names), **dict(data.info)}


class Source(Protocol):
    """What a lazy data node hands over: a length and a decoder for one sample."""

    def __len__(self) -> int: ...

    def load(self, i: int) -> tuple[torch.Tensor, torch.Tensor] | Mapping[str, torch.Tensor]: ...


@dataclass(frozen=True)
class LazyData:
    """Samples read and decoded one at a time from `source` (picklable: it goes to workers)."""

    source: Any  # a Source
    task: str
    index: tuple[int, ...]  # which of the source's samples, in order
    input_shape: list[int]
    class_names: tuple[str, ...] = ()
    name: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    source_labels: torch.Tensor | None = None  # class ids known without decoding (stratified Split)
    augment: Any = None  # transforms: fixed ones always, random ones while training
    target_width: int = 1
    lazy = True

    def __len__(self) -> int:
        return len(self.index)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def labels(self) -> torch.Tensor | None:
        if self.source_labels is None:
            return None
        return self.source_labels[torch.tensor(self.index, dtype=torch.int64)]

    @property
    def output_size(self) -> int:
        return output_size(self.task, self.class_names, self.target_width, self.info)

    def sample(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample i of this (sub)set as the task's (input, target) pair, fixed transforms applied."""
        loaded = self.source.load(self.index[i])
        if isinstance(loaded, Mapping):
            loaded = tuple(loaded[key] for key in TASKS[self.task].fields)
        x, y = loaded
        return self.augment.fixed(x, y) if self.augment is not None else (x, y)

    def subset(self, index: torch.Tensor, name: str) -> LazyData:
        return replace(self, index=tuple(self.index[int(i)] for i in index), name=name)

    def describe(self) -> dict[str, Any]:
        return describe(self)

    def materialize(self) -> DataBundle:
        """Every sample decoded into memory (the cache option)."""
        if not len(self):
            raise DataError(Issue(f"'{self.name}' holds no samples", field="path"))
        pairs = [self.sample(i) for i in range(len(self))]
        return DataBundle(torch.stack([p[0] for p in pairs]).contiguous(),
                          torch.stack([p[1] for p in pairs]).contiguous(), self.task, self.class_names,
                          self.name, dict(self.info), self.augment.random_only() if self.augment else None)


def make_bundle(x: Any, y: Any, task: str, class_names: tuple[str, ...] = (), name: str = "",
                info: Mapping[str, Any] | None = None, contiguous: bool = True) -> DataBundle:
    """Build a bundle with the dtypes the loop expects (token ids and class ids as int64);
    `contiguous=False` keeps overlapping views (token blocks) as they are."""
    x_t = torch.as_tensor(x, dtype=torch.int64 if task in TOKEN_INPUTS else torch.float32)
    if task in LABELLED:
        y_t = torch.as_tensor(y, dtype=torch.int64).reshape(-1)
    elif task in INTEGER_TARGETS:
        y_t = torch.as_tensor(y, dtype=torch.int64)
    else:
        y_t = torch.as_tensor(y, dtype=torch.float32)
        y_t = y_t.reshape(-1, 1) if y_t.dim() == 1 else y_t
    if contiguous:
        x_t, y_t = x_t.contiguous(), y_t.contiguous()
    return DataBundle(x_t, y_t, task, tuple(class_names), name, dict(info or {}))
