"""Tasks: what the data on a `dataset` link serves. One declaration each.

A task names the two tensors of a sample (the model's input and the target; contrastive data
passes both to the model), the losses that fit (the first is `auto`), the metrics Evaluate
reports, the per-epoch metrics that land in the history files and that `monitor` may name,
and the columns Predict writes. Ports say which tasks they give or take; links are checked
against that here, so validation and the canvas refuse the same links with the same reason.
Standard library only: the computations live in nodeflow.training.tasks.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nodeflow.core.spec import NodeSpec, PortSpec


@dataclass(frozen=True)
class TaskSpec:
    name: str
    fields: tuple[str, str]  # a sample's two tensors: (model input, target) or (image, caption ids)
    losses: tuple[str, ...]  # the first is what loss=auto picks
    metrics: tuple[str, ...]  # what Evaluate reports
    epoch_metrics: tuple[str, ...]  # computed on validation data every epoch (history, monitor)
    predict: tuple[str, ...]  # Predict's CSV columns
    train_accuracy: bool = False  # the loop also counts correct predictions while training
    both_to_model: bool = False  # the model takes both fields (contrastive)

    @property
    def monitors(self) -> tuple[str, ...]:
        train = ("train_loss",) + (("train_accuracy",) if self.train_accuracy else ())
        return train + ("val_loss",) + tuple(f"val_{m}" for m in self.epoch_metrics)


CLASSIFICATION, MULTILABEL, REGRESSION = "classification", "multilabel", "regression"
SEGMENTATION, LANGUAGE_MODELLING = "segmentation", "language_modelling"
SEQUENCE_CLASSIFICATION, CONTRASTIVE = "sequence_classification", "contrastive"
TOKEN_INPUTS = (LANGUAGE_MODELLING, SEQUENCE_CLASSIFICATION)  # tasks whose inputs are token ids (int64)

TASKS: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec(CLASSIFICATION, ("x", "y"), ("cross_entropy", "bce"),
             ("loss", "accuracy", "top_k_accuracy", "per_class_accuracy", "confusion_matrix"),
             ("accuracy",), ("index", "target", "prediction", "confidence"), train_accuracy=True),
    TaskSpec(MULTILABEL, ("x", "labels"), ("bce",),
             ("loss", "accuracy", "exact_match", "f1", "per_label_accuracy"),
             ("accuracy", "f1"), ("index", "target", "prediction")),
    TaskSpec(REGRESSION, ("x", "y"), ("mse", "l1", "smooth_l1"), ("loss", "mae", "rmse", "r2"),
             ("mae", "r2"), ("index", "target_J", "prediction_J")),
    TaskSpec(SEGMENTATION, ("image", "mask"), ("cross_entropy", "dice", "dice_ce"),
             ("loss", "pixel_accuracy", "dice", "iou", "mean_dice", "mean_iou", "foreground_dice"),
             ("mean_dice", "mean_iou", "foreground_dice"), ("index", "dice", "iou", "pixels_CLASS")),
    TaskSpec(LANGUAGE_MODELLING, ("ids", "next_ids"), ("cross_entropy",),
             ("loss", "perplexity", "token_accuracy"), ("perplexity", "token_accuracy"),
             ("index", "loss", "perplexity", "text", "predicted_next"), train_accuracy=True),
    TaskSpec(SEQUENCE_CLASSIFICATION, ("ids", "label"), ("cross_entropy",),
             ("loss", "accuracy", "per_class_accuracy", "confusion_matrix"),
             ("accuracy",), ("index", "text", "target", "prediction", "confidence"), train_accuracy=True),
    TaskSpec(CONTRASTIVE, ("image", "caption_ids"), ("clip",),
             ("loss", "i2t_accuracy", "t2i_accuracy", "i2t_r1", "i2t_r5", "i2t_r10",
              "t2i_r1", "t2i_r5", "t2i_r10"),
             ("i2t_accuracy", "t2i_accuracy"), ("index", "caption", "best_caption", "rank"),
             both_to_model=True),
)}
ALL_LOSSES = tuple(dict.fromkeys(loss for t in TASKS.values() for loss in t.losses))
ALL_MONITORS = tuple(dict.fromkeys(m for t in TASKS.values() for m in t.monitors))
LOWER_IS_BETTER = ("loss", "mae", "rmse", "perplexity")
IMAGE_TASKS = (CLASSIFICATION, MULTILABEL, REGRESSION, SEGMENTATION, CONTRASTIVE)
TABLE_TASKS = (CLASSIFICATION, MULTILABEL, REGRESSION)


def better(metric: str) -> str:
    """'min' or 'max': which way `metric` improves."""
    return "min" if metric.split("_")[-1] in LOWER_IS_BETTER else "max"


def port_tasks(spec: NodeSpec, port: PortSpec, params: Mapping[str, object],
               upstream: Callable[[str], tuple[str, ...] | None]) -> tuple[str, ...] | None:
    """The tasks an output port can give (None: not known, so any).

    `passes` ports give what their input gets; a `task` param narrows a port that can give several.
    """
    if port.passes:
        return upstream(port.passes)
    if not port.tasks:
        return None
    if port.gives is not None:
        return port.gives(params)
    chosen = params.get("task")
    return (chosen,) if chosen in port.tasks else port.tasks


def either(names: tuple[str, ...] | list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _names(tasks: tuple[str, ...]) -> str:
    return either([t.replace("_", " ") for t in tasks])


def tasks_at(key: Any, port_name: str, spec_of: Callable[[Any], NodeSpec | None],
             params_of: Callable[[Any], Mapping[str, object]],
             source_of: Callable[[Any, str], tuple[Any, str] | None],
             seen: frozenset = frozenset()) -> tuple[str, ...] | None:
    """The tasks output `port_name` of node `key` can carry (None: any), following `passes`
    ports (Split, Augment) upstream. Validation walks the workflow, the editor its canvas."""
    spec = spec_of(key)
    port = spec.output(port_name) if spec else None
    if spec is None or port is None or key in seen:
        return None

    def upstream(in_port: str) -> tuple[str, ...] | None:
        src = source_of(key, in_port)
        return tasks_at(src[0], src[1], spec_of, params_of, source_of, seen | {key}) if src else None

    return port_tasks(spec, port, params_of(key), upstream)


def task_problem(given: tuple[str, ...] | None, dst: NodeSpec, dst_port: str, src_label: str) -> str | None:
    """Why data of `given` tasks cannot feed `dst.dst_port`, or None when some task fits."""
    port = dst.input(dst_port)
    if port is None or given is None or not port.tasks or set(given) & set(port.tasks):
        return None
    if port.type != "dataset":  # a processor: "gives a tokenizer; ImageFolder takes an image processor"
        return f"{src_label} gives {_kinds(given)}; {dst.title} takes {_kinds(port.tasks)}"
    return f"{src_label} gives {_names(given)} data; {dst.title} takes {_names(port.tasks)} data"


def _kinds(kinds: tuple[str, ...]) -> str:
    return either([f"{'an' if k[:1] in 'aeiou' else 'a'} {k}" for k in kinds])
