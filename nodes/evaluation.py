"""Evaluate (the task's metrics on a dataset) and Predict (one CSV row per sample)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.outputs import output_problem, write_output_text
from nodeflow.core.params import resolve_path
from nodeflow.core.spec import NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import (CLASSIFICATION, CONTRASTIVE, LANGUAGE_MODELLING, MULTILABEL, SEGMENTATION,
                                 SEQUENCE_CLASSIFICATION, TASKS)
from nodeflow.training.batches import LazyBatches, auto_workers
from nodeflow.training.factory import make_loss
from nodeflow.training.metrics import EVAL_BATCH, evaluate, outputs
from nodeflow.training.tasks import clip_logits
from nodeflow.training.tokenizer import tokenizer_mismatch

BATCH = ParamSpec("batch_size", "int", 0, "Samples per forward pass (0: the batch size the model was trained "
                  f"with, {EVAL_BATCH} when that is unknown)", min=0, max=1_000_000)
INPUTS = (PortSpec("model", "model", "Trained model"), PortSpec("dataset", "dataset", "Data to score (any task)"))


def _inputs(ctx: RunContext, inputs: Mapping[str, Any],
            params: Mapping[str, Any]) -> tuple[torch.nn.Module, Any, torch.device, LazyBatches | None, int]:
    model, data = inputs["model"], inputs["dataset"]
    batch = batch_size(model, params["batch_size"])
    if data is None or len(data) == 0:
        raise DataError(Issue("the connected dataset is empty (is its Split fraction 0?)", field="dataset"))
    mismatch = tokenizer_mismatch(getattr(model, "nodeflow_data", None), data.info)
    if mismatch:
        raise DataError(Issue(mismatch, field="dataset"))
    if ctx.dry_run:  # one batch
        data = data.subset(torch.arange(min(len(data), batch)), data.name)
    device = next(model.parameters()).device
    workers = auto_workers(data, params["num_workers"])
    return model, data, device, LazyBatches(data, 0, False, workers, device) if data.lazy else None, batch


def batch_size(model: Any, requested: int) -> int:
    """`requested`, or with 0 the model's training batch size (bounded memory: scoring holds no more than
    training did), else EVAL_BATCH."""
    return requested or int(getattr(model, "nodeflow_batch_size", 0) or 0) or EVAL_BATCH


def run_evaluate(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    model, data, device, loader, batch = _inputs(ctx, inputs, params)
    metrics = evaluate(model, data, make_loss("auto", data), device, batch, params["top_k"], loader)
    if ctx.dry_run:  # one batch through a model trained a few steps: its scores are no result
        ctx.log(f"scored one batch of {len(data)} samples (dry run: the model is barely trained, "
                f"so these scores are not a result)")
    else:
        ctx.report_metrics(metrics)
    return {"metrics": metrics}


EVALUATE = NodeSpec(
    type="eval.evaluate", title="Evaluate", category="Evaluation", run=run_evaluate, inputs=INPUTS,
    outputs=(PortSpec("metrics", "metrics", "The task's metrics: accuracy, top-k, per-class, confusion matrix; "
                      "mae, rmse, r2; dice and iou; perplexity; retrieval recall"),),
    description="Scores a model on a dataset with its task's metrics (see docs/data.md).",
    params=(
        BATCH,
        ParamSpec("top_k", "int", 5, "Also report top-k accuracy when there are more than k classes",
                  min=0, max=1000),
        ParamSpec("num_workers", "int", -1, "DataLoader workers for lazy data (-1: auto)", min=-1, max=64),
    ),
)


def _text(data: Any, ids: torch.Tensor) -> str:
    if "tokenizer" not in data.info:
        return ""
    from nodeflow.training.tokenizer import load_tokenizer

    return load_tokenizer(data.info["tokenizer"]).decode(ids.tolist())


def prediction_rows(data: Any, model: torch.nn.Module, device: torch.device, batch_size: int,
                    loader: LazyBatches | None = None) -> Iterator[list[Any]]:
    """The header, then one row per sample, per the data's task."""
    task, first, start = data.task, True, 0
    kept: list[Any] = []
    for out, x, y in outputs(model, data, device, batch_size, loader):
        if first:
            yield _header(data, out)
            first = False
        if task == CONTRASTIVE:
            kept.append((out[0].cpu(), out[1].cpu(), y.cpu()))
            continue
        yield from _rows(data, out, x.cpu(), y.cpu(), start)
        start += len(y)
    if kept:
        logits = clip_logits((torch.cat([k[0] for k in kept]), torch.cat([k[1] for k in kept])))
        captions = torch.cat([k[2] for k in kept])
        best = logits.argmax(dim=1)
        rank = (logits > logits.diagonal()[:, None]).sum(dim=1)
        for i in range(len(logits)):
            yield [i, _text(data, captions[i]), _text(data, captions[best[i]]), int(rank[i]) + 1]


def _header(data: Any, out: Any) -> list[str]:
    if data.task == SEGMENTATION:
        return ["index", "dice", "iou"] + [f"pixels_{n}" for n in data.class_names]
    if data.task in (CLASSIFICATION, SEQUENCE_CLASSIFICATION, MULTILABEL, LANGUAGE_MODELLING, CONTRASTIVE):
        columns = list(TASKS[data.task].predict)
        return [c for c in columns if c != "text" or "tokenizer" in data.info]
    width = out.shape[1]
    return ["index"] + [f"target_{j}" for j in range(width)] + [f"prediction_{j}" for j in range(width)]


def _rows(data: Any, out: torch.Tensor, x: torch.Tensor, y: torch.Tensor, start: int) -> Iterator[list[Any]]:
    task, names, out = data.task, data.class_names, out.float().cpu()
    text = "tokenizer" in data.info
    for i in range(len(y)):
        index = start + i
        if task in (CLASSIFICATION, SEQUENCE_CLASSIFICATION):
            conf, pred = out[i].softmax(dim=0).max(dim=0)
            lead = [index] + ([_text(data, x[i])] if task == SEQUENCE_CLASSIFICATION and text else [])
            yield lead + [names[int(y[i])], names[int(pred)], f"{float(conf):.6f}"]
        elif task == MULTILABEL:
            labels = names or tuple(str(j) for j in range(out.shape[1]))
            yield [index, ";".join(n for j, n in enumerate(labels) if y[i, j] > 0.5),
                   ";".join(n for j, n in enumerate(labels) if out[i, j] > 0)]
        elif task == SEGMENTATION:
            pred, classes = out[i].argmax(dim=0), out.shape[1]
            inter = [int(((pred == c) & (y[i] == c)).sum()) for c in range(classes)]
            sizes = [(int((pred == c).sum()), int((y[i] == c).sum())) for c in range(classes)]
            present = [c for c in range(classes) if sum(sizes[c])]
            dice = sum(2 * inter[c] / sum(sizes[c]) for c in present) / max(len(present), 1)
            iou = sum(inter[c] / (sum(sizes[c]) - inter[c]) for c in present) / max(len(present), 1)
            yield [index, f"{dice:.6f}", f"{iou:.6f}"] + [s[0] for s in sizes]
        elif task == LANGUAGE_MODELLING:
            loss = float(torch.nn.functional.cross_entropy(out[i], y[i]))
            lead = [index, f"{loss:.6f}", f"{min(torch.tensor(loss).exp().item(), 1e30):.6g}"]
            yield lead + ([_text(data, x[i]), _text(data, out[i].argmax(dim=-1))] if text else [])
        else:
            yield [index] + [f"{float(v):.6g}" for v in y[i]] + [f"{float(v):.6g}" for v in out[i]]


def run_predict(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    model, data, device, loader, batch = _inputs(ctx, inputs, params)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(prediction_rows(data, model, device, batch, loader))
    path = resolve_path(params["path"], Path.cwd())
    if ctx.dry_run:
        ctx.log(f"dry run: would write predictions to {path}")
        return {}
    problem = output_problem(path, params["overwrite"], "set overwrite=true to replace it")
    if problem:  # appeared since validation (another node or program wrote it)
        raise DataError(Issue(problem, field="path"))
    write_output_text(path, buffer.getvalue(), ctx.node_name)
    ctx.log(f"Wrote {len(data)} predictions to {path}")
    return {}


PREDICT = NodeSpec(
    type="eval.predict", title="Predict", category="Evaluation", run=run_predict, inputs=INPUTS,
    description="Writes one row per sample to a CSV: target, prediction and confidence for classes; "
                "dice and iou per image for masks; loss, perplexity and decoded text for token blocks; "
                "the best-matching caption and the true caption's rank for image-text pairs.",
    params=(
        ParamSpec("path", "outfile", "predictions.csv", "CSV file to write (relative to the current folder)"),
        BATCH,
        ParamSpec("num_workers", "int", -1, "DataLoader workers for lazy data (-1: auto)", min=-1, max=64),
        ParamSpec("overwrite", "bool", False, "Replace path even when NodeFlow did not write it (a file it "
                  "wrote earlier is always replaced)"),
    ),
)

NODES = [EVALUATE, PREDICT]
