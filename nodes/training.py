"""The Trainer node: fits a model; writes periodic, best and final checkpoints; resumes."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from nodeflow.checkpoints.layout import EXTENSIONS, LAYOUTS
from nodeflow.checkpoints.run_request import RunRequest
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec, Reuse, RunContext
from nodeflow.core.tasks import ALL_MONITORS, TASKS, either
from nodeflow.training import distributed, reuse
from nodeflow.training.callbacks import ProgressEvents
from nodeflow.training.checkpoint_callback import Checkpoints
from nodeflow.training.device import DEVICE_CHOICES, device_problem, resolve_device
from nodeflow.training.dry_run import dry_fit
from nodeflow.training.factory import LOSSES, OPTIMIZERS, SCHEDULERS
from nodeflow.training.history import HistoryFiles
from nodeflow.training.loop import TrainConfig, TrainingLoop
from nodeflow.training.resuming import read_resume, resume_from

MONITORS = ("auto",) + ALL_MONITORS


def check_trainer(c: CheckInput) -> list[tuple[str, str]]:
    p, problems = c.params, []
    reason = device_problem(p["device"])
    if reason:
        problems.append(("device", reason))
    elif p["amp"] == "fp16" and resolve_device(p["device"]).type != "cuda":
        problems.append(("amp", f"fp16 needs a CUDA device (device {p['device']!r} is "
                                f"{resolve_device(p['device']).type} here); use bf16"))
    if p["monitor"].startswith("val_") and "val" not in c.linked_inputs:
        problems.append(("monitor", f"{p['monitor']!r} needs the 'val' input connected"))
    problems += _task_fit(p, c.input_tasks.get("train"))
    return problems + RunRequest.of(p).problems()


def _task_fit(p: Mapping[str, Any], tasks: tuple[str, ...] | None) -> list[tuple[str, str]]:
    """monitor and loss must fit the task of the training data (when validation can tell it)."""
    if not tasks:
        return []
    what = either([t.replace("_", " ") for t in tasks])
    problems = []
    monitors = {m for t in tasks for m in TASKS[t].monitors}
    if p["monitor"] != "auto" and p["monitor"] not in monitors:
        problems.append(("monitor", f"{p['monitor']!r} is not reported for {what} data "
                                    f"(choose from {', '.join(sorted(monitors))})"))
    losses = {loss for t in tasks for loss in TASKS[t].losses}
    if p["loss"] != "auto" and p["loss"] not in losses:
        problems.append(("loss", f"{p['loss']!r} does not fit {what} data (use {', '.join(sorted(losses))})"))
    return problems


def check_folder(c: CheckInput) -> list[tuple[str, str]]:
    """Another run, or files NodeFlow did not write, in the run folder (placeholders: checked when named)."""
    reason = RunRequest.of(c.params).conflict()
    return [("checkpoint_dir", reason)] if reason else []


def model_name(model: Any) -> str:
    """The model's short name for folder names: its preset when it has one (resnet20), else its node type (resnet)."""
    config = getattr(model, "nodeflow_config", None) or {}
    preset = (config.get("params") or {}).get("preset")
    if isinstance(preset, str) and preset not in ("", "custom"):
        return preset
    return str(config.get("type", type(model).__name__)).split(".")[-1]


SAVING = ("Checkpoints", "Resume")  # the Trainer's sections the Checkpoints callback and resume take


def saving_options() -> set[str]:
    """The Trainer's params that are not the loop's: its checkpoint and resume options."""
    return {p.name for p in TRAINER.params if p.group in SAVING}


def run_trainer(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    model, train, val = inputs["model"], inputs["train"], inputs.get("val")
    settings = dict(params)
    if ctx.device_override:
        settings["device"] = ctx.device_override
    config = TrainConfig.from_params(settings, elsewhere=saving_options())
    request = RunRequest.of(params)
    snapshot = {
        "model": getattr(model, "nodeflow_config", None),
        "trainer": {k: v for k, v in settings.items() if k != "resume"},
        "data": train.describe(),
        "node": ctx.node_name,
    }
    model.nodeflow_data = snapshot["data"]  # what Evaluate, Predict and Generate check their data against
    model.nodeflow_batch_size = config.batch_size  # what Evaluate and Predict score at by default
    if ctx.dry_run:  # a few steps in memory: no folder claimed, nothing resumed or written
        return {"model": dry_fit(model, train, val, config, ctx.emit), "history": {}}
    emit: Any = ctx.emit
    callbacks: list[Any] = []
    run = None
    lead = distributed.rank() == 0  # under torchrun only rank 0 claims folders and writes files
    named = request.named_file()  # a refused file leaves no empty run behind: read before the folder is claimed
    checkpoint = read_resume(named, model, snapshot) if named is not None else None
    if request.checkpoint_dir:
        workflow_hash = hashlib.sha256(ctx.workflow_text.encode()).hexdigest()
        dataset = train.name.split("/")[0] or "data"
        run = distributed.on_rank0(lambda: request.named(model_name(model), dataset, time.strftime(
            "%Y%m%d_%H%M%S")).claim(workflow_hash, ctx.log, ctx.run_id))
        if lead:
            emit = HistoryFiles(run, ctx.emit, snapshot, ctx.workflow_text)
        callbacks.append(Checkpoints(run, emit, snapshot, ctx.workflow_text, settings["device"], writes=lead))
    callbacks.insert(0, ProgressEvents(emit, str(run.checkpoints if run else "")))
    loop = TrainingLoop(model, train, val, config, callbacks, ctx.should_stop, ctx.log)
    path = named if run is None or not request.searches else distributed.on_rank0(lambda: run.resume_file(ctx.log))
    if path is not None:
        resume_from(ctx, loop, path, checkpoint or read_resume(path, model, snapshot), snapshot)
    state = loop.fit()
    distributed.barrier()  # the other ranks wait for rank 0's last file
    emit("fit_end", epochs=state.epoch, best=state.best, best_epoch=state.best_epoch, monitor=state.monitor,
         stopped_early=state.stopped_early, stale_epochs=state.stale_epochs)
    history = {"epoch_losses": list(state.epoch_losses), **{k: list(v) for k, v in state.history.items()}}
    if run is not None and lead:  # where an unchanged Trainer's model comes back from (reuse)
        loop.model.nodeflow_checkpoint = str(run.final_file())  # type: ignore[assignment]
    return {"model": loop.model, "history": history}


def migrate_trainer(params: dict[str, Any], version: int) -> dict[str, Any]:
    """Version 1 saved amp as a bool (float16 on cuda, bfloat16 on cpu)."""
    if isinstance(params.get("amp"), bool):
        cuda = str(params.get("device", "auto")).startswith("cuda")
        params["amp"] = ("fp16" if cuda else "bf16") if params["amp"] else "off"
    return params


TRAINER = NodeSpec(
    type="train.trainer", title="Trainer", category="Training", run=run_trainer, check=check_trainer,
    version=2, migrate=migrate_trainer, trains=True,
    check_outputs=check_folder, reuse=Reuse(reuse.note, reuse.problem, reuse.load),
    sections=("Training", "Optimizer", "Schedule", "Device", "Checkpoints", "Best model", "Resume"),
    collapsed=("Schedule", "Device", "Best model", "Resume"),
    description="Trains a model; saves checkpoint_epoch_N.pt, best_model.pt and final_model.pt "
                "(or, in the experiments layout, experiments/<name>/checkpoints/epoch_0010.pt, latest.pt, best.pt).",
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
        ParamSpec("epochs", "int", 10, "Number of passes over the training data", min=1, max=100_000,
                  group="Training", on_node=True),
        ParamSpec("max_iters", "int", 0, "Train for this many optimizer steps instead (0: use epochs); the "
                  "last epoch stops when they are done (nanoGPT's max_iters)", min=0, max=100_000_000,
                  group="Training"),
        ParamSpec("batch_size", "int", 64, "Samples per optimizer step (a last batch of one sample joins "
                  "the previous one)", min=1, max=1_000_000, group="Training", on_node=True),
        ParamSpec("grad_accum_steps", "int", 1, "Add up the gradients of this many batches before each optimizer "
                  "step (a larger effective batch in the same memory)", min=1, max=100_000, group="Training"),
        ParamSpec("optimizer", "choice", "adam", "Optimizer", choices=OPTIMIZERS, group="Optimizer"),
        ParamSpec("lr", "float", 1e-3, "Learning rate", label="Learning rate", min=1e-8, max=10.0,
                  group="Optimizer", on_node=True),
        ParamSpec("momentum", "float", 0.9, "Momentum (sgd only)", min=0.0, max=1.0, group="Optimizer"),
        ParamSpec("beta2", "float", 0.999, "Adam's second-moment decay (adam, adamw; nanoGPT uses 0.99 on "
                  "small data)", min=0.0, max=0.99999, group="Optimizer"),
        ParamSpec("weight_decay", "float", 0.0, "L2 weight decay (adamw: decoupled, and not on biases or "
                  "norm weights)", min=0.0, max=1.0, group="Optimizer"),
        ParamSpec("grad_clip", "float", 0.0, "Clip the gradients' total norm to this (0: off)", min=0.0,
                  max=1e6, group="Optimizer"),
        ParamSpec("loss", "choice", "auto", "Loss (auto: the task's usual one: cross_entropy for classes and "
                  "tokens, bce for multi-label, mse for numbers, clip for image-text pairs)",
                  choices=LOSSES, group="Training"),
        ParamSpec("scheduler", "choice", "none", "Learning-rate schedule, stepped every epoch; warmup_cosine: "
                  "linear warmup, then cosine decay to min_lr at the last step, stepped every batch",
                  label="LR scheduler", choices=SCHEDULERS, group="Schedule"),
        ParamSpec("warmup_iters", "int", 0, "warmup_cosine: steps of linear warmup", min=0, max=100_000_000,
                  group="Schedule"),
        ParamSpec("min_lr", "float", 0.0, "warmup_cosine: the learning rate at the last step", min=0.0,
                  max=10.0, group="Schedule"),
        ParamSpec("step_size", "int", 10, "step: epochs between decays; plateau: patience", min=1, max=100_000,
                  group="Schedule"),
        ParamSpec("gamma", "float", 0.1, "Factor the LR is multiplied by (step, plateau)", min=1e-6, max=1.0,
                  group="Schedule"),
        ParamSpec("device", "str", "auto", "auto, cpu, cuda, cuda:N or mps; auto picks cuda, then mps, then cpu",
                  choices=DEVICE_CHOICES, group="Device"),
        ParamSpec("amp", "choice", "off", "Mixed precision: bf16 (autocast to bfloat16, cpu or cuda) or "
                  "fp16 (float16 with a GradScaler, cuda only)", label="Mixed precision",
                  choices=("off", "bf16", "fp16"), group="Device"),
        ParamSpec("compile", "bool", False, "torch.compile the model for training; where compiling fails, "
                  "one line says so and training goes on without it", group="Device"),
        ParamSpec("seed", "int", 0, "Seed for data order, augmentation and dropout", min=0, max=2**31 - 1,
                  group="Training"),
        ParamSpec("generation_samples", "int", 2, "Language models: texts sampled after each epoch into the "
                  "history files and the run panel (0: none)", min=0, max=32, group="Training"),
        ParamSpec("num_workers", "int", -1, "DataLoader worker processes for lazy data (-1: auto, "
                  "min(4, cores - 1); in-memory data never uses workers)", min=-1, max=64, group="Device"),
        ParamSpec("checkpoint_dir", "outdir", "checkpoints/{model}_{dataset}/{run}",  # a new folder per run
                  "Folder for checkpoints (empty: no saving); may use {model}, {dataset}, {timestamp}, "
                  "{run} (run_1, run_2, …)", label="Checkpoint Directory", allow_empty=True, writes=RunRequest.FILES,
                  group="Checkpoints", on_node=True),
        ParamSpec("save_every_n_epochs", "int", 5, "Save checkpoint_epoch_N.pt every N epochs",
                  label="Save Every N Epochs", min=1, max=100_000, group="Checkpoints", on_node=True),
        ParamSpec("save_every_n_iters", "int", 0, "Also save checkpoint_iter_N.pt every N batches inside an "
                  "epoch, for iteration-based runs (0: off)", min=0, max=100_000_000, group="Checkpoints"),
        ParamSpec("async_save", "bool", True, "Write checkpoints on a background thread: training waits only "
                  "for a copy of the state (the final and interrupt saves wait for the write)",
                  group="Checkpoints"),
        ParamSpec("max_checkpoints", "int", 0, "Periodic files to keep, oldest removed first (0: keep all; "
                  "best and final are never removed)", min=0, max=100_000, group="Checkpoints"),
        ParamSpec("save_top_k", "int", 0, "Periodic files to keep, those with the worst monitored value removed "
                  "first, as Lightning's save_top_k (0: off; replaces max_checkpoints)", min=0, max=100_000,
                  group="Checkpoints"),
        ParamSpec("save_best", "bool", True, "Write best_model.pt (best.pt) whenever the monitored value improves",
                  group="Checkpoints"),
        ParamSpec("save_best_only", "bool", False, "Write best_model.pt and final_model.pt but no periodic files",
                  group="Checkpoints"),
        ParamSpec("backup_checkpoints", "bool", False, "Also copy best_model.pt and final_model.pt into "
                  "backups/; loading falls back to the copy when a file is corrupt", group="Checkpoints"),
        ParamSpec("compression", "choice", "none", "Write .pt.zst or .pt.gz files (smaller; NodeFlow reads them, "
                  "a plain torch.load does not)", choices=("none", "zstd", "gzip"), group="Checkpoints"),
        ParamSpec("layout", "choice", "nodeflow", "nodeflow: checkpoint_dir/checkpoint_epoch_N.pt, best_model.pt, "
                  "final_model.pt; experiments: checkpoint_dir/<experiment>/config.yaml, "
                  "checkpoints/epoch_0010.pt, latest.pt, best.pt, tensorboard/", choices=LAYOUTS,
                  group="Checkpoints"),
        ParamSpec("experiment_name", "str", "", "experiments layout: the run folder's name (empty: "
                  "{model}_{dataset}_{timestamp})", allow_empty=True, group="Checkpoints"),
        ParamSpec("extension", "choice", ".pt", "Checkpoint file extension (.pth: best_model.pth, "
                  "checkpoint_epoch_5.pth)", choices=EXTENSIONS, group="Checkpoints"),
        ParamSpec("resume", "str", "", "Continue from a checkpoint: auto (newest valid in checkpoint_dir), "
                  "best, or a file path; empty starts fresh", choices=RunRequest.RESUME_CHOICES, group="Resume"),
        ParamSpec("overwrite", "bool", False, "A fresh run into a folder holding another run (or files "
                  "NodeFlow did not write) moves them to previous/ first; never deletes them", group="Checkpoints"),
        ParamSpec("monitor", "choice", "auto", "Metric deciding best_model.pt (auto: val_loss when "
                  "validation data is connected, else train_loss); the task decides which exist",
                  choices=MONITORS, group="Best model"),
        ParamSpec("mode", "choice", "auto", "Whether lower (min) or higher (max) monitored values are "
                  "better; auto: min for loss, mae, rmse and perplexity, max for the rest",
                  choices=("auto", "min", "max"), group="Best model"),
        ParamSpec("stop_on_nan", "bool", True, "Stop with an error when the epoch's training loss is NaN or "
                  "infinite (it is never saved as best either way)", group="Training"),
        ParamSpec("min_delta", "float", 0.0, "Smallest change of the monitored value that counts as better",
                  min=0.0, max=1e9, group="Best model"),
        ParamSpec("early_stop_patience", "int", 0, "Stop when the monitored value has not improved (by more "
                  "than min_delta) for this many epochs; the final file holds the last epoch (0: off)",
                  min=0, max=100_000, group="Best model"),
    ),
)

NODES = [TRAINER]
