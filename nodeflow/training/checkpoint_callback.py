"""The Checkpoints callback: periodic, best, final and interrupt files, each saved through
nodeflow.checkpoints.CheckpointManager (durable atomic write, manifest entry, backups), and retention."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.background import BackgroundWriter, Events
from nodeflow.checkpoints.manifest import prune_periodic
from nodeflow.checkpoints.run_request import RunFolder
from nodeflow.core.errors import DataError, Issue
from nodeflow.training.loop import Callback, FitState, TrainingLoop

Emit = Callable[..., None]


class Checkpoints(Callback):
    """Saves a run's files into its folder `run` (claimed, or the user's own): `run.request` gives
    save_every_n_epochs, save_every_n_iters, max_checkpoints or save_top_k (periodic files kept: the
    newest, or those with the best monitored value; best and final are never deleted), save_best,
    save_best_only, compression, backups, async_save and the
    layout's file names (and, in the experiments layout, latest.pt after every epoch)."""

    def __init__(self, run: RunFolder, emit: Emit, config: Mapping[str, Any], workflow_text: str = "",
                 device: str = "", writes: bool = True):
        self.run, request = run, run.request
        self.manager = run.manager()
        self.writes = writes  # False on torchrun's other ranks: they only join the collectives of a save
        self.every_n_iters = request.save_every_n_iters
        self.layout = request.layout
        self.save_best = request.save_best
        self.emit = emit
        self.config = dict(config)
        self.workflow_text = workflow_text  # provenance: the graph as run, in every checkpoint
        self.info = run.info(device)  # what every manifest entry records about the run
        self.writer = BackgroundWriter() if request.async_save else None
        self.mode = "min"  # which way the monitored value improves (the loop's, at fit start)

    def on_fit_start(self, loop: TrainingLoop) -> None:
        self.mode = loop.mode
        if not self.writes:
            return
        try:
            self.manager.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(Issue(f"cannot create {self.manager.folder}: {exc.strerror}",
                                  field="checkpoint_dir")) from None

    def on_batch_end(self, loop: TrainingLoop, batch: int, batches: int, loss: Any) -> None:
        """A background save's error surfaces here; save_every_n_iters: a periodic file inside the
        epoch, at the end of an accumulation only."""
        if self.writer is not None:
            self._emit_all(self.writer.poll())
        every = self.every_n_iters
        if every and batch < batches and batch % loop.accum == 0 and loop.state.step % every == 0 \
                and not self.manager.config.save_best_only:
            self._save(loop, [(self.layout.periodic_step(loop.state.step), "periodic")])

    def before_epoch_end(self, loop: TrainingLoop) -> None:
        """The previous epoch's background save reports before this epoch's line prints (a save's
        line never sits under a later epoch); the next save would wait for it anyway."""
        self.finish()

    def on_epoch_end(self, loop: TrainingLoop) -> None:
        epoch, config, layout = loop.state.epoch, self.manager.config, self.layout
        files = []
        if not config.save_best_only and epoch % config.save_interval == 0:
            files.append((layout.periodic(epoch), "periodic"))
        if loop.state.improved and self.save_best:
            files.append((layout.best, "best"))
        if layout.latest:
            files.append((layout.latest, "latest"))
        if files:
            self._save(loop, files)

    def on_fit_end(self, loop: TrainingLoop) -> None:
        self.finish()
        if self.layout.final:  # experiments: latest.pt already holds the final state
            self._save(loop, [(self.layout.final, "final")], wait=True)

    def on_interrupt(self, loop: TrainingLoop) -> None:
        self.finish()
        self._save(loop, [(self.layout.interrupt, "interrupt")], wait=True)

    def finish(self) -> None:
        """Wait for a background save in flight and report it."""
        if self.writer is not None:
            self._emit_all(self.writer.wait())

    def _save(self, loop: TrainingLoop, files: list[tuple[str, str]], wait: bool = False) -> None:
        """Save one state under each of `files` (name, kind): serialized once, the other names get
        copies of those bytes. Async: snapshot now, write on the background thread."""
        data = loop.state_dict(self.config)
        if not self.writes:
            return
        data["workflow"] = self.workflow_text
        if self.layout.experiments:
            data.update(best_values(loop.state))
        state = loop.state
        fields = {"epoch": state.epoch, "step": state.step, "monitor": state.monitor}
        values = {kind: state.best if kind == "best" else state.metrics.get(state.monitor) for _, kind in files}
        periodic = any(kind == "periodic" for _, kind in files)

        def job(data: dict[str, Any]) -> Events:
            events: Events = []
            first: Path | None = None
            for name, kind in files:
                path = self._write(name, data, kind, first)
                first = first or path
                events.append(("checkpoint_saved", {"kind": kind, "path": str(path), **fields, "value": values[kind]}))
            return events + (self._prune_periodic() if periodic else [])

        if self.writer is None or wait:
            self._emit_all(job(data))
        else:
            self._emit_all(self.writer.save(data, job))

    def _write(self, name: str, data: dict[str, Any], kind: str, same_as: Path | None) -> Path:
        try:
            return self.manager.save_file(name, data, kind, self.info, same_as=same_as)
        except OSError as exc:
            raise RuntimeError(f"could not write checkpoint {self.manager.folder / name}: {exc.strerror or exc}; "
                               f"earlier checkpoints are intact") from None

    def _prune_periodic(self) -> Events:
        request, folder = self.run.request, self.manager.folder
        keep, reason = (request.save_top_k, "save_top_k") if request.save_top_k else \
            (request.max_checkpoints, "max_checkpoints")
        if keep <= 0:
            return []
        best_by = self.mode if request.save_top_k else ""
        return [("checkpoint_deleted", {"path": str(folder / name), "reason": reason})
                for name in prune_periodic(folder, keep, self.info.get("run_id", ""), best_by)]

    def _emit_all(self, events: Events) -> None:
        for event, fields in events:
            self.emit(event, **fields)


def best_values(state: FitState) -> dict[str, Any]:
    """The experiments layout's best values: the monitored metric's under its own name (best_val_loss),
    and `best_acc`, the best accuracy reached (left out where the task reports none)."""
    values: dict[str, Any] = {f"best_{state.monitor}": state.best}
    accuracy = next((state.history[name] for name in ("val_accuracy", "train_accuracy") if state.history.get(name)),
                    None)
    if accuracy:
        values["best_acc"] = max(accuracy)
    return values
