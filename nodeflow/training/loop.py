"""The training loop: a plain PyTorch loop with a callback surface.

Per batch it does what a hand-written loop does (index, forward, backward, step)
plus device-side accumulation of loss and accuracy: no host sync. In-memory data is
indexed directly on the device; lazy data comes through a DataLoader with workers in the
same seeded order. Checkpointing, progress and events are callbacks; stopping is
cooperative via `should_stop`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, cast

import torch

from nodeflow.core.errors import DataError, Issue, RunInterrupted
from nodeflow.core.tasks import CLASSIFICATION, LANGUAGE_MODELLING, TASKS, better
from nodeflow.training import distributed
from nodeflow.training.batches import LazyBatches, auto_workers, mix
from nodeflow.training.device import resolve_device
from nodeflow.training.factory import PER_BATCH, make_loss, make_optimizer, make_scheduler
from nodeflow.training.metrics import evaluate, forward
from nodeflow.training.tasks import correct_count, retrieval_hits, train_extras
from nodeflow.training.rng import seed_everything
from nodeflow.training import loop_state


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    beta2: float = 0.999  # adam, adamw
    weight_decay: float = 0.0
    loss: str = "auto"
    scheduler: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    device: str = "auto"
    seed: int = 0
    amp: str = "off"  # off | bf16 | fp16 (fp16: with a GradScaler)
    compile: bool = False  # torch.compile the model for training (falls back to eager when it fails)
    monitor: str = "auto"
    mode: str = "auto"
    min_delta: float = 0.0
    early_stop_patience: int = 0  # stop after this many epochs without improvement of the monitor (0: off)
    stop_on_nan: bool = True
    num_workers: int = -1  # lazy data: DataLoader workers (-1: min(4, cores - 1))
    max_iters: int = 0  # stop after this many optimizer steps (0: all epochs); sets epochs
    warmup_iters: int = 0  # warmup_cosine
    min_lr: float = 0.0  # warmup_cosine
    grad_clip: float = 0.0  # clip the gradient norm (0: off)
    grad_accum_steps: int = 1  # batches whose gradients add up before each optimizer step
    generation_samples: int = 2  # language models: texts sampled after each epoch (history files)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], elsewhere: Iterable[str] = ()) -> TrainConfig:
        """The loop's options from a Trainer's params. Each key is a field here or named in
        `elsewhere` (options another part takes: checkpointing, resume); any other key is an
        error naming it, never dropped, so the declaration and this class cannot drift apart."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - names - set(elsewhere))
        if unknown:
            raise DataError(Issue(f"the training loop has no option {', '.join(map(repr, unknown))}",
                                  field=unknown[0]))
        return cls(**{k: v for k, v in params.items() if k in names})


AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def amp_mode(value: Any) -> str:
    """The amp setting as off | bf16 | fp16; True (older workflows and configs) means bf16."""
    if value is True:
        return "bf16"
    return "off" if value in (False, None, "") else str(value)


@dataclass
class FitState:
    """Where training stands; everything a checkpoint needs to describe it."""

    monitor: str
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    batch_in_epoch: int = 0
    epoch_losses: list[float] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    best: float | None = None
    best_epoch: int = 0
    improved: bool = False
    stale_epochs: int = 0  # epochs since the monitored value last improved (early stopping counts them)
    stopped_early: int = 0  # the epoch early stopping ended the run at (0: it did not)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite (stop_on_nan)."""


class Callback:
    """Hooks called by TrainingLoop; override the ones you need."""

    def on_fit_start(self, loop: TrainingLoop) -> None: ...

    def on_batch_end(self, loop: TrainingLoop, batch: int, batches: int, loss: torch.Tensor) -> None: ...

    def before_epoch_end(self, loop: TrainingLoop) -> None:
        """Before any callback reports the epoch that just ended (its line, its files)."""

    def on_epoch_end(self, loop: TrainingLoop) -> None: ...

    def on_fit_end(self, loop: TrainingLoop) -> None: ...

    def on_interrupt(self, loop: TrainingLoop) -> None: ...


class TrainingLoop:
    def __init__(self, model: torch.nn.Module, train: Any, val: Any | None,
                 config: TrainConfig, callbacks: Sequence[Callback] = (),
                 should_stop: Callable[[], bool] = lambda: False, log: Callable[[str], None] = print):
        self.config = config
        self.log = log
        self.device = distributed.local_device(resolve_device(config.device))
        self.rank, self.world = distributed.rank(), distributed.world_size()
        self.model = model.to(self.device)
        self.train_data, self.val_data = train, val
        self.callbacks = list(callbacks)
        self.should_stop = should_stop
        self.task = TASKS[train.task]
        if train.task == CLASSIFICATION and train.num_classes < 2:
            raise DataError(Issue(f"training data '{train.name}' has {train.num_classes} class(es); "
                                  "classification needs at least 2", field="train"))
        if len(train) == 0:
            raise DataError(Issue(f"training data '{train.name}' is empty", field="train"))
        if self.world > 1 and min(len(train), config.batch_size) < self.world:
            raise DataError(Issue(f"every process needs a sample of each batch: batch_size {config.batch_size} and "
                                  f"{len(train)} training samples, {self.world} processes", field="batch_size"))
        per_epoch = batch_count(len(train), config.batch_size, self.world)
        accum = self.accum = max(1, config.grad_accum_steps)
        if config.max_iters:  # an iteration budget: as many epochs as it takes, the last one cut short
            config = self.config = replace(config, epochs=-(-config.max_iters * accum // per_epoch))
        self.steps = config.max_iters or config.epochs * -(-per_epoch // accum)  # optimizer steps
        self.epoch_report: dict[str, Any] = {}  # per-epoch values that are not plain numbers (history files)
        self.loss_fn = make_loss(config.loss, train)
        self.optimizer = make_optimizer(config.optimizer, self.model.parameters(), config.lr,
                                        config.weight_decay, config.momentum, config.beta2)
        self.scheduler = make_scheduler(config.scheduler, self.optimizer, config.epochs, config.step_size,
                                        config.gamma, self.steps, config.warmup_iters, config.min_lr)
        self.per_batch_scheduler = config.scheduler == PER_BATCH
        self.amp_dtype = AMP_DTYPES[amp_mode(config.amp)]
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp_dtype == torch.float16 else None
        self.train_model = self.model  # what the batches go through: compiled or wrapped for DDP
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=ids)
        self.compile_note = ""
        if config.compile:
            try:
                self.train_model = cast(torch.nn.Module, torch.compile(self.train_model))  # an OptimizedModule
            except Exception as exc:
                self._compile_failed(exc)
        self.loader_generator = torch.Generator()
        monitor = config.monitor
        if monitor == "auto":
            monitor = "val_loss" if val is not None else "train_loss"
        self.state = FitState(monitor=monitor)
        self.mode = config.mode if config.mode != "auto" else better(monitor)
        self.lazy = train.lazy
        if self.lazy:
            self.batches = LazyBatches(train, config.seed, True, auto_workers(train, config.num_workers), self.device)
        else:
            self._x = train.x.to(self.device)
            self._y = train.y.to(self.device)
        self.val_batches = None
        if val is not None and val.lazy:
            self.val_batches = LazyBatches(val, config.seed, False, auto_workers(val, config.num_workers), self.device)
        # State of an epoch in progress: what a mid-epoch checkpoint needs for exact resume.
        self.epoch_start_loader_state = self.loader_generator.get_state()
        self.loss_sum = torch.zeros((), device=self.device)
        # correct predictions (classes) or the sum of per-sample token accuracies (language models)
        self.correct = torch.zeros((), device=self.device, dtype=torch.float32 if train.task == LANGUAGE_MODELLING
                                   else torch.int64)
        # counts for train_extras (top-5 hits, CLIP's in-batch retrieval hits), summed like `correct`
        self.extra_sums = {name: torch.zeros((), device=self.device, dtype=torch.int64)
                           for name in train_extras(train.task, len(train.class_names))}
        self._resumed = False
        self.applied: list[str] = []  # settings of this run put over a resumed checkpoint's (resume_settings)

    def state_dict(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The checkpoint dict of this loop now (`config`: what rebuilds the model), see loop_state."""
        return loop_state.state_dict(self, config)

    def load_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        """Continue exactly where `checkpoint` stopped (see nodeflow.training.loop_state)."""
        loop_state.load_state_dict(self, checkpoint)
        self._resumed = True

    def fit(self) -> FitState:
        if not self._resumed:
            seed_everything(self.config.seed)
            self.loader_generator.manual_seed(self.config.seed)
        self._call("on_fit_start")
        try:
            while self.state.epoch < self.config.epochs and not self._patience_ran_out():
                # asked to stop at an epoch's end (a sweep's pruner, a Stop then): no batch more
                if self.state.epoch and not self.state.batch_in_epoch and self.world == 1 and self.should_stop():
                    raise RunInterrupted()
                started = time.perf_counter()
                train_metrics = self._train_epoch()
                self._end_epoch(train_metrics, time.perf_counter() - started)
        except RunInterrupted:
            self._call("on_interrupt")
            raise
        except DataError as exc:  # a sample that only this rank reads (lazy data): it says so itself
            if self.world > 1:
                exc.rank = self.rank  # type: ignore[attr-defined]
            raise
        self._call("on_fit_end")
        return self.state

    def _patience_ran_out(self) -> bool:
        """Early stopping: the monitored value has not improved for early_stop_patience epochs (the
        epoch it stopped at is recorded; the fit_end event reports it)."""
        state, patience = self.state, self.config.early_stop_patience
        if not patience or state.stale_epochs < patience:
            return False
        state.stopped_early = state.epoch
        return True

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _train_epoch(self) -> dict[str, float]:
        model, cfg = self.model, self.config
        self.train_model.train()
        n = len(self.train_data)
        first = self.state.batch_in_epoch  # > 0 only when resuming mid-epoch
        if first == 0:
            self.epoch_start_loader_state = self.loader_generator.get_state()
            self.loss_sum.zero_()
            self.correct.zero_()
            for total in self.extra_sums.values():
                total.zero_()
        else:
            self.loader_generator.set_state(self.epoch_start_loader_state)
        order = torch.randperm(n, generator=self.loader_generator)
        order = order if self.lazy else order.to(self.device)
        bounds = batch_bounds(n, cfg.batch_size, self.world)
        batches = len(bounds) - 1
        if cfg.max_iters:  # the last epoch of an iteration budget stops early
            batches = min(batches, cfg.max_iters * self.accum - (self.state.step - first))
            bounds = bounds[:batches + 1]
        loss_sum, correct, accum, world, extras = self.loss_sum, self.correct, self.accum, self.world, self.extra_sums
        for batch, (xb, yb) in enumerate(self._batches(order, bounds, first), start=first):
            # DDP averages the ranks' gradients; weighting each rank's mean loss by its share of the
            # global batch makes that average the gradient of the global batch's mean, uneven last batch too
            share = 1.0 if world == 1 else yb.shape[0] * world / (bounds[batch + 1] - bounds[batch])
            if accum == 1:
                stepping, group = True, 1
                self.optimizer.zero_grad(set_to_none=True)
            else:
                stepping = (batch + 1) % accum == 0 or batch + 1 == batches
                group = min(accum, batches - batch // accum * accum)  # batches in this group (the last: fewer)
                if batch % accum == 0:
                    self.optimizer.zero_grad(set_to_none=True)
            if self.amp_dtype is not None:
                with torch.autocast(self.device.type, dtype=self.amp_dtype):
                    out = self._forward(xb, yb)
                    out = out.float() if isinstance(out, torch.Tensor) else out
                    loss = self.loss_fn(out, yb)
            else:
                out = self._forward(xb, yb)
                loss = self.loss_fn(out, yb)
            if self.scaler is not None:
                self.scaler.scale(loss if group == 1 and share == 1.0 else loss * share / group).backward()
                if stepping:
                    if cfg.grad_clip:
                        self.scaler.unscale_(self.optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
            else:
                (loss if group == 1 and share == 1.0 else loss * share / group).backward()
                if stepping:
                    if cfg.grad_clip:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    self.optimizer.step()
            if self.per_batch_scheduler and stepping:
                self.scheduler.step()
            loss_sum.add_(loss.detach(), alpha=yb.shape[0])
            if self.task.train_accuracy:
                hits = correct_count(self.train_data.task, out, yb, extras)
                assert hits is not None  # a task with train_accuracy counts correct predictions
                correct.add_(hits)
            elif extras:  # contrastive: in-batch retrieval
                retrieval_hits(out, extras)
            self.state.step += 1
            self.state.batch_in_epoch = batch + 1
            self._call("on_batch_end", batch + 1, batches, loss)
            # never inside an accumulation (its gradients are not saved); all ranks stop at the same step
            if stepping and (self.should_stop() if world == 1 else distributed.any_rank(self.should_stop(),
                                                                                          self.device)):
                raise RunInterrupted()
        distributed.all_sum(loss_sum, correct, *extras.values())
        seen = bounds[-1]  # samples this epoch trained on (all n, unless an iteration budget ended it)
        metrics = {"train_loss": float(loss_sum) / seen}
        if self.task.train_accuracy:
            metrics["train_accuracy"] = float(correct) / seen
        for name, hits in extras.items():
            metrics[f"train_{name}"] = float(hits) / seen
        return metrics

    def _forward(self, xb: Any, yb: Any) -> Any:
        try:
            return forward(self.train_model, self.train_data.task, xb, yb)
        except Exception as exc:  # torch.compile fails on the first call, not when asked
            if not self.config.compile or self.compile_note:
                raise
            self._compile_failed(exc)
            return forward(self.train_model, self.train_data.task, xb, yb)

    def _compile_failed(self, exc: BaseException) -> None:
        self.compile_note = f"torch.compile failed ({_first_line(exc)}); training without it"
        self.train_model = getattr(self.train_model, "_orig_mod", self.train_model)
        self.log(self.compile_note)

    def _batches(self, order: torch.Tensor, bounds: list[int], first: int) -> Any:
        """(x, y) on the device for batches first.. of this epoch's order; skipped ones are never read."""
        rank, world = self.rank, self.world  # each rank: every world-th sample of each global batch
        if self.lazy:
            todo = [order[bounds[b] + rank:bounds[b + 1]:world].tolist() for b in range(first, len(bounds) - 1)]
            yield from self.batches.epoch(todo, self.state.epoch)
            return
        augment = self.train_data.augment
        for batch in range(first, len(bounds) - 1):
            index = order[bounds[batch] + rank:bounds[batch + 1]:world]
            xb, yb = self._x[index], self._y[index]
            if augment is not None:
                generator = torch.Generator().manual_seed(mix(self.config.seed, self.state.epoch, batch))
                xb, yb = augment.random(xb, yb, generator)
            yield xb, yb

    def _end_epoch(self, metrics: dict[str, float], seconds: float) -> None:
        state = self.state
        self.epoch_report = {}
        if self.val_data is not None:
            started = time.perf_counter()
            # at the training batch size: a larger one would hold more memory than training itself
            val = evaluate(self.model, self.val_data, self.loss_fn, self.device, self.config.batch_size, top_k=5,
                           loader=self.val_batches)
            self.epoch_report = {"val": val, "val_time": round(time.perf_counter() - started, 4)}
            metrics["val_loss"] = val["loss"]
            for name in self.task.epoch_metrics:
                metrics[f"val_{name}"] = val[name]
        scale = getattr(self.model, "logit_scale", None)
        if isinstance(scale, torch.Tensor):  # CLIP's learned temperature
            self.epoch_report["temperature"] = float(scale.detach().exp())
        if self.config.generation_samples and hasattr(self.model, "generate"):
            from nodeflow.training.generate import epoch_samples

            self.epoch_report["generation_samples"] = epoch_samples(
                self.model, self.val_data or self.train_data, self.config.generation_samples,
                mix(self.config.seed, state.epoch))
        metrics["lr"] = float(self.optimizer.param_groups[0]["lr"])
        metrics["time"] = round(seconds, 4)
        value = metrics.get(state.monitor, math.nan)
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(value)
        elif self.scheduler is not None and not self.per_batch_scheduler:
            self.scheduler.step()
        if self.config.stop_on_nan and not math.isfinite(metrics["train_loss"]):
            raise TrainingDiverged(f"training diverged: train loss is {metrics['train_loss']} in epoch "
                                   f"{state.epoch + 1} (try a lower lr); earlier checkpoints are intact")
        state.epoch += 1
        state.batch_in_epoch = 0
        state.metrics = metrics
        state.epoch_losses.append(metrics["train_loss"])
        for key, number in metrics.items():
            state.history.setdefault(key, []).append(number)
        state.improved = self._is_improvement(value)
        if state.improved:
            state.best, state.best_epoch = value, state.epoch
        state.stale_epochs = 0 if state.improved else state.stale_epochs + 1
        self._call("before_epoch_end")
        self._call("on_epoch_end")

    def _is_improvement(self, value: float) -> bool:
        """NaN/Inf is never best; on ties the first stays best."""
        if not math.isfinite(value):
            return False
        best = self.state.best
        if best is None:
            return True
        delta = self.config.min_delta
        return value < best - delta if self.mode == "min" else value > best + delta


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0][:160] if lines else type(exc).__name__)


def batch_bounds(n: int, batch_size: int, world: int = 1) -> list[int]:
    """Where each global batch of an epoch starts, then n; a last batch of one sample joins the
    previous one (BatchNorm needs two), and with `world` processes one too small to give each a sample."""
    bounds = list(range(0, n, batch_size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < max(2, world):
        del bounds[-2]
    return bounds


def batch_count(n: int, batch_size: int, world: int = 1) -> int:
    return len(batch_bounds(n, batch_size, world)) - 1
