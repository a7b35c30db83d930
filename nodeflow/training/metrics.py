"""Evaluation metrics: loss, accuracy, per-class and top-k accuracy, regression errors."""
from __future__ import annotations

from typing import Any

import torch

from nodeflow.training.data import CLASSIFICATION, DataBundle
from nodeflow.training.factory import LossFn


@torch.no_grad()
def predict(model: torch.nn.Module, data: DataBundle, device: torch.device,
            batch_size: int = 1024) -> torch.Tensor:
    """Raw model outputs for every sample, on `device`, in eval mode."""
    was_training = model.training
    model.eval()
    outs = [model(data.x[i:i + batch_size].to(device)) for i in range(0, len(data), batch_size)]
    model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0, device=device)


def evaluate(model: torch.nn.Module, data: DataBundle, loss_fn: LossFn, device: torch.device,
             batch_size: int = 1024, top_k: int = 0) -> dict[str, Any]:
    """Metrics as plain Python values (one host sync per call)."""
    out = predict(model, data, device, batch_size).float()
    y = data.y.to(device)
    metrics: dict[str, Any] = {"loss": float(loss_fn(out, y)), "samples": len(data)}
    if data.task == CLASSIFICATION:
        pred = out.argmax(dim=1)
        hits = pred == y
        metrics["accuracy"] = float(hits.float().mean())
        per_class = {}
        for index, name in enumerate(data.class_names):
            mask = y == index
            if bool(mask.any()):
                per_class[name] = float(hits[mask].float().mean())
        metrics["per_class_accuracy"] = per_class
        if 1 < top_k < data.num_classes:
            top = out.topk(top_k, dim=1).indices
            metrics[f"top{top_k}_accuracy"] = float((top == y[:, None]).any(dim=1).float().mean())
    else:
        err = out - y
        metrics["mae"] = float(err.abs().mean())
        metrics["rmse"] = float(err.pow(2).mean().sqrt())
        total = (y - y.mean(dim=0)).pow(2).sum()
        metrics["r2"] = float(1 - err.pow(2).sum() / total) if float(total) > 0 else 0.0
    return metrics
