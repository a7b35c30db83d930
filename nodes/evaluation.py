"""Evaluate (metrics on a dataset) and Predict (predictions written to a CSV)."""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.outputs import output_problem, write_output_text
from nodeflow.core.params import resolve_path
from nodeflow.core.spec import NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.training.data import CLASSIFICATION, DataBundle
from nodeflow.training.factory import make_loss
from nodeflow.training.metrics import evaluate, predict

INPUTS = (PortSpec("model", "model", "Trained model"), PortSpec("dataset", "dataset", "Data to score"))


def _inputs(ctx: RunContext, inputs: Mapping[str, Any],
            params: Mapping[str, Any]) -> tuple[torch.nn.Module, DataBundle, torch.device]:
    model, data = inputs["model"], inputs["dataset"]
    if data is None or len(data) == 0:
        raise DataError(Issue("the connected dataset is empty (is its Split fraction 0?)", field="dataset"))
    if ctx.dry_run:  # one batch
        data = data.subset(torch.arange(min(len(data), params["batch_size"])), data.name)
    device = next(model.parameters()).device
    return model, data, device


def run_evaluate(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    model, data, device = _inputs(ctx, inputs, params)
    metrics = evaluate(model, data, make_loss("auto", data), device, params["batch_size"], params["top_k"])
    ctx.report_metrics(metrics)
    return {"metrics": metrics}


EVALUATE = NodeSpec(
    type="eval.evaluate", title="Evaluate", category="Evaluation", run=run_evaluate, inputs=INPUTS,
    outputs=(PortSpec("metrics", "metrics", "loss, accuracy, per-class and top-k accuracy (or mae, rmse, r2)"),),
    description="Scores a model on a dataset.",
    params=(
        ParamSpec("batch_size", "int", 1024, "Samples per forward pass", min=1, max=1_000_000),
        ParamSpec("top_k", "int", 5, "Also report top-k accuracy when there are more than k classes",
                  min=0, max=1000),
    ),
)


def run_predict(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    model, data, device = _inputs(ctx, inputs, params)
    out = predict(model, data, device, params["batch_size"]).float().cpu()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if data.task == CLASSIFICATION:
        probs = out.softmax(dim=1)
        conf, pred = probs.max(dim=1)
        writer.writerow(["index", "target", "prediction", "confidence"])
        for i in range(len(data)):
            writer.writerow([i, data.class_names[int(data.y[i])], data.class_names[int(pred[i])],
                             f"{float(conf[i]):.6f}"])
    else:
        writer.writerow(["index"] + [f"target_{j}" for j in range(out.shape[1])]
                        + [f"prediction_{j}" for j in range(out.shape[1])])
        for i in range(len(data)):
            writer.writerow([i] + [f"{float(v):.6g}" for v in data.y[i]] + [f"{float(v):.6g}" for v in out[i]])
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
    description="Writes one prediction per sample to a CSV (index, target, prediction, confidence).",
    params=(
        ParamSpec("path", "outfile", "predictions.csv", "CSV file to write (relative to the current folder)"),
        ParamSpec("batch_size", "int", 1024, "Samples per forward pass", min=1, max=1_000_000),
        ParamSpec("overwrite", "bool", False, "Replace path even when NodeFlow did not write it (a file it "
                  "wrote earlier is always replaced)"),
    ),
)

NODES = [EVALUATE, PREDICT]
