"""Dry runs: one batch through the graph, nothing written. What flows on each link, what each
model costs, how long a batch takes and so how long an epoch and the run will take."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from nodeflow.checkpoints.manifest import size_text
from nodeflow.core.errors import DataError, Issue
from nodeflow.core.tasks import CLASSIFICATION
from nodeflow.training.data import DataBundle, LazyData
from nodeflow.training.loop import Callback, TrainConfig, TrainingLoop
from nodeflow.training.metrics import evaluate

PROBE_BATCHES = 4  # the first is warm-up; the others are timed


def describe(value: Any) -> str:
    """What flows on a link, in a few words."""
    if isinstance(value, (DataBundle, LazyData)):
        target = f"{value.num_classes} classes" if value.task == CLASSIFICATION else f"{value.output_size} outputs"
        kind = "lazy" if isinstance(value, LazyData) else str(value.x.dtype).replace("torch.", "")
        return f"{len(value)} × {value.input_shape} {kind} → {target} ({value.task.replace('_', ' ')})"
    if isinstance(value, torch.nn.Module):
        count, size = model_size(value)
        kind = (getattr(value, "nodeflow_config", None) or {}).get("type") or type(value).__name__
        return f"{kind}: {count:,} parameters, {size_text(size)}"
    if isinstance(value, dict):
        return ", ".join(map(str, value)) or "empty"
    return type(value).__name__


def model_size(model: torch.nn.Module) -> tuple[int, int]:
    """(parameter count, bytes of weights)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() * p.element_size() for p in params)


class _Enough(Exception):
    pass


class _Probe(Callback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self.batches = 0

    def on_batch_end(self, loop: TrainingLoop, batch: int, batches: int, loss: torch.Tensor) -> None:
        self.times.append(time.perf_counter())
        self.batches = batches
        value = float(loss.detach())
        if not math.isfinite(value):
            raise DataError(Issue(f"the loss is {value} on batch {batch} (try a lower lr, or check "
                                  f"the data for NaN or infinite values)", field="train"))
        if len(self.times) >= min(PROBE_BATCHES, batches):
            raise _Enough


LAYER_DEPTH = 2  # the table lists modules this deep (the model's children and theirs), as torchinfo does
PRETRAINED_DEPTH = 3  # a pretrained model's table, from the transformers model down to each block's parts


def training_mark(parameters: int, trainable: int) -> str:
    """What trains in a layer: 'frozen', 'trainable', 'partly (N trainable)'; '' when it has no parameters."""
    if not parameters:
        return ""
    if not trainable:
        return "frozen"
    return "trainable" if trainable == parameters else f"partly ({trainable:,} trainable)"


def listed_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The modules the table lists, by name. A pretrained model is listed from its transformers
    model (under PEFT's wrapper) and one level deeper, a ModuleList's items standing at its own
    level (the list itself never runs), so each block of the stack gets a row."""
    from nodeflow.pretrained.wrapper import PretrainedModel

    if not isinstance(model, PretrainedModel):
        return [(name, module) for name, module in model.named_modules() if name and name.count(".") < LAYER_DEPTH]
    found: list[tuple[str, torch.nn.Module]] = []

    def visit(parent: torch.nn.Module, prefix: str, level: int) -> None:
        for name, child in parent.named_children():
            if isinstance(child, (torch.nn.ModuleList, torch.nn.ModuleDict)):
                visit(child, f"{prefix}{name}.", level)
                continue
            found.append((prefix + name, child))
            if level + 1 < PRETRAINED_DEPTH:
                visit(child, f"{prefix}{name}.", level + 1)

    visit(model.base_model(), "", 0)
    return found


class LayerTable:
    """Each module's output shape on the first batch, recorded by forward hooks: the per-layer table
    (layer, type, output shape, parameters, trainable parameters and what trains) of a Check. Hooks
    ride the real forward, so every model family is described the way it is actually called."""

    def __init__(self, model: torch.nn.Module):
        self.rows: list[dict[str, Any]] = []
        listed = listed_modules(model)
        self.order = {name: i for i, (name, _) in enumerate(listed)}  # rows as listed, a module before its parts
        self.hooks = [module.register_forward_hook(self._hook(name, module)) for name, module in listed]

    def _hook(self, name: str, module: torch.nn.Module) -> Callable[..., None]:
        def record(_: torch.nn.Module, args: Any, output: Any) -> None:
            if any(row["layer"] == name for row in self.rows):
                return
            first = next(iter(output.values()), None) if isinstance(output, Mapping) else (  # transformers' outputs
                output[0] if isinstance(output, (tuple, list)) and output else output)
            shape = list(first.shape) if isinstance(first, torch.Tensor) else []
            params = list(module.parameters())
            count, trainable = sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
            self.rows.append({"layer": name, "type": type(module).__name__, "output": shape, "parameters": count,
                              "trainable": trainable, "training": training_mark(count, trainable)})
        return record

    def close(self) -> list[dict[str, Any]]:
        for hook in self.hooks:
            hook.remove()
        return sorted(self.rows, key=lambda row: self.order[row["layer"]])


def dry_fit(model: torch.nn.Module, train: Any, val: Any | None, config: TrainConfig,
            emit: Callable[..., None]) -> torch.nn.Module:
    """A few real training steps in memory; emits `dry_run` with the time per batch, the ETAs and
    the per-layer table."""
    probe = _Probe()
    layers = LayerTable(model)
    loop = TrainingLoop(model, train, val, config, [probe])
    try:
        loop.fit()
    except _Enough:
        pass
    rows = layers.close()
    steps = [b - a for a, b in zip(probe.times, probe.times[1:])] or [0.0]
    per_batch = sorted(steps)[len(steps) // 2]
    val_seconds = 0.0
    if val is not None and len(val):
        sample = val.subset(torch.arange(min(len(val), config.batch_size)), val.name)
        started = time.perf_counter()
        evaluate(loop.model, sample, loop.loss_fn, loop.device)
        val_seconds = (time.perf_counter() - started) * math.ceil(len(val) / config.batch_size)
    epoch = per_batch * probe.batches + val_seconds
    count, size = model_size(loop.model)
    emit("dry_run", seconds_per_batch=per_batch, batches=probe.batches, epoch_seconds=epoch,
         run_seconds=per_batch * loop.steps + val_seconds * loop.config.epochs, epochs=loop.config.epochs,
         parameters=count, weights_bytes=size,
         training_bytes=4 * size, device=str(loop.device), layers=rows)
    return loop.model
