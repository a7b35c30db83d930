"""The Trainer node: fits a model and writes periodic, best and final checkpoints."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.training.callbacks import Checkpoints, ProgressEvents
from nodeflow.training.device import DEVICE_CHOICES, device_problem
from nodeflow.training.factory import LOSSES, OPTIMIZERS, SCHEDULERS
from nodeflow.training.loop import TrainConfig, TrainingLoop

MONITORS = ("auto", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


def check_trainer(c: CheckInput) -> list[tuple[str, str]]:
    problems = []
    reason = device_problem(c.params["device"])
    if reason:
        problems.append(("device", reason))
    if c.params["monitor"].startswith("val_") and "val" not in c.linked_inputs:
        problems.append(("monitor", f"{c.params['monitor']!r} needs the 'val' input connected"))
    return problems


def run_trainer(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    model, train, val = inputs["model"], inputs["train"], inputs.get("val")
    settings = dict(params)
    if ctx.device_override:
        settings["device"] = ctx.device_override
    config = TrainConfig.from_params(settings)
    snapshot = {
        "model": getattr(model, "nodeflow_config", None),
        "trainer": settings,
        "data": train.describe(),
        "node": ctx.node_name,
    }
    callbacks: list[Any] = [ProgressEvents(ctx.emit, params["checkpoint_dir"])]
    if params["checkpoint_dir"]:
        folder = Path(os.path.expanduser(params["checkpoint_dir"]))  # as written: relative to cwd
        callbacks.append(Checkpoints(folder, params["save_every_n_epochs"], ctx.emit, snapshot))
    loop = TrainingLoop(model, train, val, config, callbacks, ctx.should_stop)
    state = loop.fit()
    ctx.emit("fit_end", epochs=state.epoch, best=state.best, best_epoch=state.best_epoch,
             monitor=state.monitor)
    history = {"epoch_losses": list(state.epoch_losses), **{k: list(v) for k, v in state.history.items()}}
    return {"model": loop.model, "history": history}


TRAINER = NodeSpec(
    type="train.trainer", title="Trainer", category="Training", run=run_trainer, check=check_trainer,
    description="Trains a model; saves checkpoint_epoch_N.pt, best_model.pt and final_model.pt.",
    inputs=(
        PortSpec("model", "model", "Model to train"),
        PortSpec("train", "dataset", "Training data"),
        PortSpec("val", "dataset", "Validation data, evaluated after every epoch", optional=True),
    ),
    outputs=(
        PortSpec("model", "model", "The trained model"),
        PortSpec("history", "history", "Per-epoch metrics"),
    ),
    params=(
        ParamSpec("epochs", "int", 10, "Number of passes over the training data", min=1, max=100_000),
        ParamSpec("batch_size", "int", 64, "Samples per optimizer step (a last batch of one sample joins "
                  "the previous one)", min=1, max=1_000_000),
        ParamSpec("optimizer", "choice", "adam", "Optimizer", choices=OPTIMIZERS),
        ParamSpec("lr", "float", 1e-3, "Learning rate", label="Learning rate", min=1e-8, max=10.0),
        ParamSpec("momentum", "float", 0.9, "Momentum (sgd only)", min=0.0, max=1.0),
        ParamSpec("weight_decay", "float", 0.0, "L2 weight decay", min=0.0, max=1.0),
        ParamSpec("loss", "choice", "auto", "Loss (auto: cross_entropy for classes, mse for numbers)",
                  choices=LOSSES),
        ParamSpec("scheduler", "choice", "none", "Learning-rate schedule, stepped every epoch",
                  label="LR scheduler", choices=SCHEDULERS),
        ParamSpec("step_size", "int", 10, "step: epochs between decays; plateau: patience", min=1, max=100_000),
        ParamSpec("gamma", "float", 0.1, "Factor the LR is multiplied by (step, plateau)", min=1e-6, max=1.0),
        ParamSpec("device", "str", "auto", "auto, cpu, cuda, cuda:N or mps; auto picks cuda, then mps, then cpu",
                  choices=DEVICE_CHOICES),
        ParamSpec("amp", "bool", False, "Mixed precision (float16 + GradScaler on cuda, bfloat16 on cpu)",
                  label="Mixed precision"),
        ParamSpec("seed", "int", 0, "Seed for data order and dropout", min=0, max=2**31 - 1),
        ParamSpec("checkpoint_dir", "outdir", "checkpoints", "Folder for checkpoints (empty: no saving)",
                  label="Checkpoint Directory", allow_empty=True),
        ParamSpec("save_every_n_epochs", "int", 5, "Save checkpoint_epoch_N.pt every N epochs",
                  label="Save Every N Epochs", min=1, max=100_000),
        ParamSpec("monitor", "choice", "auto", "Metric deciding best_model.pt (auto: val_loss when "
                  "validation data is connected, else train_loss)", choices=MONITORS),
        ParamSpec("mode", "choice", "auto", "Whether lower (min) or higher (max) monitored values are "
                  "better; auto: max for accuracy, min for losses", choices=("auto", "min", "max")),
    ),
)

NODES = [TRAINER]
