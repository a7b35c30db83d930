"""Evaluation: a model's outputs over a dataset, streamed batch by batch into the task's Scores."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from nodeflow.core.tasks import TASKS
from nodeflow.training.batches import LazyBatches, in_order
from nodeflow.training.tasks import LossFn, Scores


def forward(model: torch.nn.Module, task: str, x: torch.Tensor, y: torch.Tensor) -> Any:
    """The model's output for a batch (a contrastive model also takes the captions)."""
    return model(x, y) if TASKS[task].both_to_model else model(x)


EVAL_BATCH = 256  # samples per forward pass for a model whose training batch size is unknown


@torch.no_grad()
def outputs(model: torch.nn.Module, data: Any, device: torch.device, batch_size: int = EVAL_BATCH,
            loader: LazyBatches | None = None) -> Iterator[tuple[Any, torch.Tensor, torch.Tensor]]:
    """(output, x, y) per batch, in eval mode, in order."""
    was_training = model.training
    model.eval()
    try:
        for x, y in in_order(data, device, batch_size, loader):
            yield forward(model, data.task, x, y), x, y
    finally:
        model.train(was_training)


def evaluate(model: torch.nn.Module, data: Any, loss_fn: LossFn, device: torch.device,
             batch_size: int = EVAL_BATCH, top_k: int = 0, loader: LazyBatches | None = None) -> dict[str, Any]:
    """The task's metrics as plain Python values."""
    scores = Scores(data.task, loss_fn, tuple(data.class_names), top_k)
    for out, _, y in outputs(model, data, device, batch_size, loader):
        scores.update(out, y)
    return scores.result()
