"""History files in the run folder, written from the Trainer's own events.

- `metrics/{model}/{model}_epoch_N.json`: the per-model metrics layout, one folder per model
  family holding only these files (`gpt2`, `vit`, `clip`, `bert`, `modern_transformer`; the
  node type for the others: `cnn`, `resnet`, …). Each is
  `{"epoch", "step", "config", "metrics": {"train": {...}, "val": {...}}}` with `config` the
  model's architecture (its params, sizes and type: enough to rebuild it) and the training
  settings (`num_epochs`, `batch_size`, `learning_rate`, …);
- `history/epoch_N.json`: the same metrics with `config` holding the Trainer's params;
- `training_log.txt`: the console lines, with a timestamp;
- `workflow.json` and `config.json`: the workflow as run and the resolved config;
- the files the Trainer adds: `hyperparameters.json` (its params) and, in the experiments
  layout, `config.yaml`;
- `tensorboard/`: TensorBoard event files with every epoch metric, when tensorboard is installed.

Every file is written through the run's `RunFolder`: nothing is written or appended through a
link in the run folder.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodeflow.core.text import checkpoint_line, early_stop_line, epoch_line

if TYPE_CHECKING:
    from nodeflow.checkpoints.run_request import RunFolder

Emit = Callable[..., None]


FAMILIES = {"model.gpt": "gpt2", "model.vit": "vit", "model.clip": "clip", "model.bert": "bert",
            "model.modern_transformer": "modern_transformer"}  # the per-model metrics layout's folder names
METRICS = "metrics"
# name in config: Trainer param
TRAINING = {"batch_size": "batch_size", "learning_rate": "lr", "optimizer": "optimizer",
            "weight_decay": "weight_decay", "scheduler": "scheduler", "grad_accum_steps": "grad_accum_steps",
            "amp": "amp"}
METRIC_NAMES = {"token_accuracy": "accuracy", "per_class_accuracy": None, "confusion_matrix": None, "samples": None}


def family_name(model: Mapping[str, Any] | None) -> str:
    """The model's folder and file prefix in the per-model metrics layout."""
    kind = str((model or {}).get("type") or "model")
    return FAMILIES.get(kind, kind.split(".")[-1].lower())


def metric_config(snapshot: Mapping[str, Any], epochs: int) -> dict[str, Any]:
    """`config` of a per-model metrics file: the model's type, params and sizes (what its node's
    `rebuild` takes), then the training settings under the layout's names."""
    model = snapshot.get("model") or {}
    trainer = snapshot.get("trainer") or {}
    sizes = {k: v for k, v in model.items() if k not in ("type", "version", "params")}
    config = {"model_type": model.get("type", ""), **dict(model.get("params") or {}), **sizes, "num_epochs": epochs}
    return config | {name: trainer.get(key) for name, key in TRAINING.items()}


def epoch_doc(epoch: int, step: int, config: Mapping[str, Any], metrics: Mapping[str, float],
              report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One epoch in the per-model metrics schema: `metrics.train` / `metrics.val` with loss,
    accuracy, time and the task's values (perplexity for language models; `retrieval` with R@k
    for CLIP; per-class Dice and IoU for segmentation), `class_accuracies`, `learning_rate`,
    `generation_samples`."""
    report = report or {}
    train = {k[6:]: v for k, v in metrics.items() if k.startswith("train_")}
    val: dict[str, Any] = {}
    for key, value in (report.get("val") or {k[4:]: v for k, v in metrics.items() if k.startswith("val_")}).items():
        name = METRIC_NAMES.get(key, key)
        if name and not key.startswith(("i2t_r", "t2i_r")):
            val[name] = value
    if "perplexity" in val:
        train["perplexity"] = math.exp(min(train["loss"], 700.0))
    if "temperature" in report:
        train["temperature"] = report["temperature"]
    train["time"] = metrics.get("time", 0.0)
    groups: dict[str, Any] = {"train": train}
    if val:
        groups["val"] = val | {"time": report.get("val_time", 0.0)}
    doc: dict[str, Any] = {"epoch": epoch, "step": step, "config": dict(config), "metrics": groups}
    found = report.get("val") or {}
    if "i2t_r1" in found:
        groups["retrieval"] = {f"{way.upper()}_R@{k}": found[f"{way}_r{k}"]
                               for way in ("i2t", "t2i") for k in (1, 5, 10)}
    if isinstance(found.get("per_class_accuracy"), dict):
        doc["class_accuracies"] = list(found["per_class_accuracy"].values())
    doc["learning_rate"] = metrics.get("lr")
    if "generation_samples" in report:
        doc["generation_samples"] = report["generation_samples"]
    return doc


class HistoryFiles:
    """An event tap: forwards every event to `emit` and writes the history files."""

    def __init__(self, run: RunFolder, emit: Emit, config: Mapping[str, Any], workflow_text: str):
        self.run = run
        self.forward = emit
        self.config = dict(config)
        self.workflow_text = workflow_text
        self.tensorboard: Any = None
        self.family = family_name(self.config.get("model"))
        self.metric_config: dict[str, Any] = {}

    def __call__(self, event: str, **fields: Any) -> None:
        self.forward(event, **fields)
        try:
            if event == "fit_start":
                self._start(fields)
            elif event == "epoch_end":
                self._epoch(fields)
            elif event == "checkpoint_saved":
                self._log(checkpoint_line(fields).strip())
            elif event == "fit_end" and fields.get("stopped_early"):
                self._log(early_stop_line(fields))
        except OSError as exc:
            raise RuntimeError(f"could not write the training history in {self.run.path}: "
                               f"{exc.strerror or exc}; earlier checkpoints are intact") from None

    def _start(self, fields: Mapping[str, Any]) -> None:
        self.run.write("workflow.json", self.workflow_text)
        self.run.write("config.json", json.dumps(self.config, indent=2, default=str) + "\n")
        for name, text in self.run.start_files(self.config["trainer"], self.config).items():
            self.run.write(name, text)
        self.tensorboard = _tensorboard_writer(self.run.file("tensorboard"))
        self.metric_config = metric_config(self.config, fields["epochs"])
        self._log(f"Training on {fields['device']}: {fields['train_size']} samples, "
                  f"{fields['val_size']} validation, {fields['epochs']} epochs, best by {fields['monitor']}")

    def _epoch(self, fields: Mapping[str, Any]) -> None:
        epoch, metrics = fields["epoch"], fields["metrics"]
        doc = epoch_doc(epoch, fields["step"], self.config.get("trainer", {}), metrics, fields.get("report"))
        text = json.dumps(doc, indent=2) + "\n"
        self.run.write(Path("history") / f"epoch_{epoch}.json", text)
        doc = epoch_doc(epoch, fields["step"], self.metric_config, metrics, fields.get("report"))
        text = json.dumps(doc, indent=2) + "\n"
        self.run.write(Path(METRICS) / self.family / f"{self.family}_epoch_{epoch}.json", text)
        self._log(epoch_line(dict(fields)))
        if self.tensorboard is not None:
            self._tensorboard(epoch, metrics)

    def _tensorboard(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Best effort: TensorBoard is optional, so a failure there never stops training (a link does)."""
        self.run.file("tensorboard")
        try:
            Path(self.tensorboard.log_dir).mkdir(parents=True, exist_ok=True)
            for key, value in metrics.items():
                self.tensorboard.add_scalar(key.replace("_", "/", 1), value, epoch)
            self.tensorboard.flush()
        except Exception as exc:  # its writer thread re-raises anything it met
            self.tensorboard = None
            self.forward("log", message=f"TensorBoard logging stopped: {str(exc).splitlines()[0][:120]}")

    def _log(self, line: str) -> None:
        self.run.append("training_log.txt", f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def _tensorboard_writer(folder: Path) -> Any:
    """A SummaryWriter when tensorboard is installed (it is optional), else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(folder))
