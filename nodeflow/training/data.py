"""DataBundle: the in-memory dataset that flows along `dataset` links."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class DataBundle:
    """Features `x` (float32, [N, ...]) and targets `y` (int64 class ids, or float32 [N, k])."""

    x: torch.Tensor
    y: torch.Tensor
    task: str
    class_names: tuple[str, ...] = ()
    name: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)  # plain values, saved in checkpoints

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> list[int]:
        return [int(d) for d in self.x.shape[1:]]

    @property
    def output_size(self) -> int:
        """Width of the model's last layer for this data."""
        if self.task == CLASSIFICATION:
            return self.num_classes
        return int(self.y.shape[1]) if self.y.dim() > 1 else 1

    def subset(self, index: torch.Tensor, name: str) -> DataBundle:
        return replace(self, x=self.x[index], y=self.y[index], name=name)

    def describe(self) -> dict[str, Any]:
        """Plain description for checkpoint configs (no tensors)."""
        return {
            "name": self.name,
            "task": self.task,
            "input_shape": self.input_shape,
            "output_size": self.output_size,
            "class_names": list(self.class_names),
            **dict(self.info),
        }


def make_bundle(x: Any, y: Any, task: str, class_names: tuple[str, ...] = (), name: str = "",
                info: Mapping[str, Any] | None = None) -> DataBundle:
    """Build a bundle with the dtypes the loop expects."""
    x_t = torch.as_tensor(x, dtype=torch.float32)
    if task == CLASSIFICATION:
        y_t = torch.as_tensor(y, dtype=torch.int64).reshape(-1)
    else:
        y_t = torch.as_tensor(y, dtype=torch.float32)
        y_t = y_t.reshape(-1, 1) if y_t.dim() == 1 else y_t
    return DataBundle(x_t.contiguous(), y_t.contiguous(), task, tuple(class_names), name, dict(info or {}))
