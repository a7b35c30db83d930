"""What each task (nodeflow.core.tasks) computes: its losses and its metrics, batch by batch.

A `Scores` object takes (outputs, targets) batch after batch and gives the task's metrics
at the end, so Evaluate streams over data larger than memory. Classification-like tasks
keep the predicted class and its confidence per sample, not the logits.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.tasks import (CLASSIFICATION, CONTRASTIVE, LANGUAGE_MODELLING, MULTILABEL, REGRESSION,
                                 SEGMENTATION, SEQUENCE_CLASSIFICATION, TASKS, either)

LossFn = Callable[[Any, torch.Tensor], torch.Tensor]


def _dice_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    probs = out.softmax(dim=1)
    onehot = F.one_hot(y, out.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = (0, *range(2, out.dim()))
    inter, total = (probs * onehot).sum(dims), probs.sum(dims) + onehot.sum(dims)
    return 1 - ((2 * inter + 1) / (total + 1)).mean()


def clip_logits(out: Any) -> torch.Tensor:
    """Image-to-text similarities from a contrastive model's (image_emb, text_emb[, logit_scale])."""
    image, text = F.normalize(out[0].float(), dim=-1), F.normalize(out[1].float(), dim=-1)
    scale = out[2].exp() if len(out) > 2 else torch.tensor(1 / 0.07, device=image.device)
    return scale * image @ text.T


def _clip_loss(out: Any, _: torch.Tensor) -> torch.Tensor:
    logits = clip_logits(out)
    labels = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def _tokens_ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.flatten(0, -2), y.flatten())


def make_loss(name: str, task: str, classes: int = 0, data_name: str = "") -> LossFn:
    """The loss `name` for `task` ('auto': the task's first); a mismatch is a DataError on field 'loss'."""
    spec = TASKS[task]
    name = spec.losses[0] if name == "auto" else name
    if name not in spec.losses:
        raise DataError(Issue(f"loss {name!r} does not fit {task.replace('_', ' ')} data '{data_name}' "
                              f"(use {either(spec.losses)})", field="loss"))
    if task == LANGUAGE_MODELLING:
        return _tokens_ce
    if name == "cross_entropy":
        return F.cross_entropy
    if name == "bce" and task == CLASSIFICATION:
        return lambda out, y: F.binary_cross_entropy_with_logits(out, F.one_hot(y, classes).to(out.dtype))
    if name == "dice_ce":
        return lambda out, y: F.cross_entropy(out, y) + _dice_loss(out, y)
    losses: dict[str, LossFn] = {"bce": F.binary_cross_entropy_with_logits, "mse": F.mse_loss, "l1": F.l1_loss,
                                 "smooth_l1": F.smooth_l1_loss, "dice": _dice_loss, "clip": _clip_loss}
    return losses[name]


def correct_count(task: str, out: Any, y: torch.Tensor,
                  extras: dict[str, torch.Tensor] | None = None) -> torch.Tensor | None:
    """Correct predictions in a training batch (device tensor, no sync), for train_accuracy; the
    batch's top-5 hits are added to extras["top5_accuracy"] when it is there (one topk gives both)."""
    if extras and "top5_accuracy" in extras:
        top = out.detach().topk(5, dim=1).indices == y[:, None]
        extras["top5_accuracy"].add_(top.any(dim=1).sum())
        return top[:, 0].sum()
    if task in (CLASSIFICATION, SEQUENCE_CLASSIFICATION):
        return (out.argmax(dim=1) == y).sum()
    if task == LANGUAGE_MODELLING:  # each sample's share of correctly predicted tokens
        return (out.argmax(dim=-1) == y).float().mean(dim=-1).sum()
    return None


def train_extras(task: str, classes: int) -> tuple[str, ...]:
    """Training metrics counted beside accuracy: top-5 accuracy with more than 5 classes (as validation
    reports it), image-to-text and text-to-image accuracy within each batch for contrastive data."""
    if task in (CLASSIFICATION, SEQUENCE_CLASSIFICATION) and classes > 5:
        return ("top5_accuracy",)
    return ("i2t_accuracy", "t2i_accuracy") if task == CONTRASTIVE else ()


def retrieval_hits(out: Any, extras: dict[str, torch.Tensor]) -> None:
    """Add a contrastive batch's hits to extras: images whose own caption ranks first among the
    batch's captions (i2t), and captions whose own image does (t2i). Device tensors, no sync."""
    logits = clip_logits(tuple(o.detach() for o in out))
    truth = torch.arange(len(logits), device=logits.device)
    extras["i2t_accuracy"].add_((logits.argmax(dim=1) == truth).sum())
    extras["t2i_accuracy"].add_((logits.argmax(dim=0) == truth).sum())


class Scores:
    """Accumulates a task's metrics over batches; `result()` gives plain Python values."""

    def __init__(self, task: str, loss_fn: LossFn, class_names: tuple[str, ...], top_k: int = 0):
        self.task, self.loss_fn, self.names, self.top_k = task, loss_fn, class_names, top_k
        self.samples = 0
        self.kept: dict[str, list[torch.Tensor]] = {}
        self.sums: dict[str, torch.Tensor] = {}

    def _keep(self, **tensors: torch.Tensor) -> None:
        for key, value in tensors.items():
            self.kept.setdefault(key, []).append(value.detach())

    def _add(self, **tensors: torch.Tensor) -> None:
        for key, value in tensors.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value.detach().clone()

    def update(self, out: Any, y: torch.Tensor) -> None:
        n = len(y)
        self._add(loss=self.loss_fn(out, y).detach().float() * n)  # summed on the device: no sync per batch
        self.samples += n
        if self.task in (CLASSIFICATION, SEQUENCE_CLASSIFICATION):
            out = out.float()
            conf, pred = out.softmax(dim=1).max(dim=1)
            top = out.topk(self.top_k, dim=1).indices if 1 < self.top_k < out.shape[1] else pred[:, None]
            self._keep(pred=pred, y=y, hit_k=(top == y[:, None]).any(dim=1))
        elif self.task in (MULTILABEL, REGRESSION):
            self._keep(out=out.float(), y=y)
        elif self.task == SEGMENTATION:
            pred, classes = out.argmax(dim=1), out.shape[1]
            one_p, one_y = F.one_hot(pred, classes), F.one_hot(y, classes)
            dims = tuple(range(one_p.dim() - 1))
            self._add(inter=(one_p * one_y).sum(dims), pred=one_p.sum(dims), true=one_y.sum(dims),
                      correct=(pred == y).sum(), pixels=torch.tensor(y.numel()))
        elif self.task == LANGUAGE_MODELLING:
            self._add(correct=(out.argmax(dim=-1) == y).sum(), tokens=torch.tensor(y.numel()))
        elif self.task == CONTRASTIVE:
            self._keep(image=out[0].float(), text=out[1].float())

    def result(self) -> dict[str, Any]:
        sums = {k: v.cpu() for k, v in self.sums.items()}
        loss = float(sums.pop("loss", 0.0)) / max(self.samples, 1)
        metrics: dict[str, Any] = {"loss": loss, "samples": self.samples}
        kept = {k: torch.cat(v) for k, v in self.kept.items()}
        metrics.update(_RESULTS[self.task](self, kept, sums, metrics["loss"]))
        return metrics


def _classes(s: Scores, kept: dict[str, torch.Tensor], _: Any, __: float) -> dict[str, Any]:
    pred, y = kept["pred"].cpu(), kept["y"].cpu()
    hits = pred == y
    k = len(s.names)
    confusion = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k) if k else torch.zeros(0, 0)
    metrics: dict[str, Any] = {
        "accuracy": float(hits.float().mean()),
        "per_class_accuracy": {name: float(hits[y == i].float().mean())
                               for i, name in enumerate(s.names) if bool((y == i).any())},
        "confusion_matrix": confusion.tolist(),
    }
    if 1 < s.top_k < k:
        metrics[f"top{s.top_k}_accuracy"] = float(kept["hit_k"].float().mean())
    return metrics


def _multilabel(s: Scores, kept: dict[str, torch.Tensor], _: Any, __: float) -> dict[str, Any]:
    pred, y = (kept["out"] > 0).cpu(), kept["y"].cpu() > 0.5
    tp = float((pred & y).sum())
    f1 = 2 * tp / max(float(pred.sum() + y.sum()), 1.0)
    hits = (pred == y).float()
    names = s.names or tuple(str(i) for i in range(y.shape[1]))
    return {"accuracy": float(hits.mean()), "exact_match": float(hits.min(dim=1).values.mean()), "f1": f1,
            "per_label_accuracy": {n: float(hits[:, i].mean()) for i, n in enumerate(names)}}


def _regression(s: Scores, kept: dict[str, torch.Tensor], _: Any, __: float) -> dict[str, Any]:
    out, y = kept["out"], kept["y"]
    err = out - y
    total = (y - y.mean(dim=0)).pow(2).sum()
    return {"mae": float(err.abs().mean()), "rmse": float(err.pow(2).mean().sqrt()),
            "r2": float(1 - err.pow(2).sum() / total) if float(total) > 0 else 0.0}


def _segmentation(s: Scores, _: Any, sums: dict[str, torch.Tensor], __: float) -> dict[str, Any]:
    inter, pred, true = sums["inter"].double(), sums["pred"].double(), sums["true"].double()
    present = (pred + true) > 0
    dice = torch.where(present, 2 * inter / (pred + true).clamp(min=1), torch.ones_like(inter))
    iou = torch.where(present, inter / (pred + true - inter).clamp(min=1), torch.ones_like(inter))
    names = s.names or tuple(str(i) for i in range(len(inter)))
    return {"pixel_accuracy": float(sums["correct"]) / max(int(sums["pixels"]), 1),
            "dice": dict(zip(names, dice.tolist())), "iou": dict(zip(names, iou.tolist())),
            "mean_dice": float(dice[present].mean()) if bool(present.any()) else 1.0,
            "mean_iou": float(iou[present].mean()) if bool(present.any()) else 1.0,
            "foreground_dice": float(dice[1:][present[1:]].mean()) if bool(present[1:].any()) else 1.0}


def _language(s: Scores, _: Any, sums: dict[str, torch.Tensor], loss: float) -> dict[str, Any]:
    return {"perplexity": math.exp(min(loss, 700.0)),
            "token_accuracy": float(sums["correct"]) / max(int(sums["tokens"]), 1)}


def _contrastive(s: Scores, kept: dict[str, torch.Tensor], _: Any, __: float) -> dict[str, Any]:
    logits = clip_logits((kept["image"], kept["text"])).cpu()
    metrics: dict[str, Any] = {}
    for way, sim in (("i2t", logits), ("t2i", logits.T)):
        rank = (sim > sim.diagonal()[:, None]).sum(dim=1)  # how many captions beat the true one
        metrics[f"{way}_accuracy"] = float((rank == 0).float().mean())
        for k in (1, 5, 10):
            metrics[f"{way}_r{k}"] = float((rank < k).float().mean())
    return metrics


_RESULTS: dict[str, Callable[..., dict[str, Any]]] = {
    CLASSIFICATION: _classes, SEQUENCE_CLASSIFICATION: _classes, MULTILABEL: _multilabel,
    REGRESSION: _regression, SEGMENTATION: _segmentation, LANGUAGE_MODELLING: _language,
    CONTRASTIVE: _contrastive,
}
