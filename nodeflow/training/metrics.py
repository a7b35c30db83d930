"""Evaluation: a model's outputs over a dataset, streamed batch by batch into the task's Scores."""
from __future__ import annotations

import copy
import weakref
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
    """The task's metrics as plain Python values. The same model, unchanged since (no parameter or
    buffer written: their version counters), scored on the same dataset object the same way gets the
    last result again: an Evaluate on the validation data right after training does not score it twice."""
    global _last
    key = (loss_fn, device, batch_size, top_k, _versions(model))
    if _last is not None and _last[0]() is model and _last[1]() is data and _last[2] == key:
        return copy.deepcopy(_last[3])
    scores = Scores(data.task, loss_fn, tuple(data.class_names), top_k)
    for out, _, y in outputs(model, data, device, batch_size, loader):
        scores.update(out, y)
    result = scores.result()
    try:
        _last = (weakref.ref(model), weakref.ref(data), key, copy.deepcopy(result))
    except TypeError:  # data that takes no weak reference is scored afresh every time
        _last = None
    return result


_last: tuple[Any, Any, tuple[Any, ...], dict[str, Any]] | None = None  # the last evaluate's inputs and result


def _versions(model: torch.nn.Module) -> tuple[int, ...]:
    """Every parameter's and buffer's in-place write counter: any optimizer step or load changes one."""
    return tuple(t._version for t in (*model.parameters(), *model.buffers()))
