"""The CheckpointManager API for your own training loop: CheckpointConfig and CheckpointManager.

    from nodeflow.checkpoints import CheckpointConfig, CheckpointManager

    manager = CheckpointManager(CheckpointConfig(checkpoint_dir="checkpoints", save_interval=1,
                                                 monitor_metric="val_loss"), "my_experiment")
    checkpoint_id = manager.save_checkpoint(model, optimizer, epoch=1, step=100,
                                            metrics={"val_loss": 0.5}, tags=["demo"], description="first run")
    manager.load_checkpoint(checkpoint_id, model, optimizer)

Files go to checkpoint_dir/experiment_name/, named by id
(`checkpoint_epoch_0001_step_000100_20231201_143022.pt`), with the folder's manifest.json
(what that API calls checkpoint_metadata.json) and backups/. The Trainer saves through the same
`CheckpointManager.save_file`, so a folder written here lists, verifies, compares and
exports with `nodeflow ckpt` and shows in the editor's Checkpoints panel. Imports torch,
never Qt. Errors a caller can cause are CheckpointError with one line; a save that is not due
and a checkpoint that does not validate log one line why (logger "nodeflow.checkpoints").
"""
from __future__ import annotations

import difflib
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from nodeflow.version import __version__
from nodeflow.checkpoints.backups import make_backup, place_copy, restore_backup
from nodeflow.checkpoints.manifest import (KEEP, check_tags, commit_entry, latest, make_entry, prune_periodic,
                                           read_entries, remove_backup, remove_checkpoints, rows, set_tags, summary,
                                           verify_file)
from nodeflow.checkpoints.layout import checkpoint_home
from nodeflow.checkpoints.run_folder import adopt
from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.files import in_folder, sha256_of
from nodeflow.checkpoints.folder_names import inside
from nodeflow.checkpoints.folder_state import MANIFEST
from nodeflow.checkpoints import compress
from nodeflow.checkpoints.torch_files import CheckpointWarning, atomic_save, load_checkpoint, load_weights

__all__ = ["CheckpointConfig", "CheckpointManager", "CheckpointMetadata", "CheckpointError", "CheckpointWarning",
           "validate_checkpoint"]

log = logging.getLogger("nodeflow.checkpoints")


@dataclass
class CheckpointConfig:
    """The CheckpointManager API's configuration table, with its defaults."""

    checkpoint_dir: str | Path = "checkpoints"
    save_interval: int = 1  # save every N epochs
    max_checkpoints: int = 10  # files kept (0: all): the best and the newest others; `keep`-tagged ones on top
    save_best_only: bool = False
    monitor_metric: str = "val_loss"
    monitor_mode: str = "min"  # min | max
    save_optimizer: bool = True
    save_scheduler: bool = True
    save_metadata: bool = True  # False: the manifest keeps what verification and listing need, no config
    compression: bool | str = False  # False | True (zstd, else gzip) | "gzip" | "zstd": not plain torch.load
    backup_checkpoints: bool = True  # best, final and `keep`-tagged files also go to backups/
    backup_link: bool = False  # hard links instead of copies: no extra disk, but share a flipped byte
    validate_checkpoints: bool = True  # SHA-256 against the manifest on every load

    def __post_init__(self) -> None:
        for kind, names in ((int, ("save_interval", "max_checkpoints")), (str, ("monitor_metric", "monitor_mode")),
                            (bool, ("save_best_only", "save_optimizer", "save_scheduler", "save_metadata",
                                    "backup_checkpoints", "backup_link", "validate_checkpoints"))):
            for name in names:
                if type(getattr(self, name)) is not kind:  # bool is not an int here
                    raise CheckpointError(Issue(f"CheckpointConfig.{name} must be {kind.__name__}, "
                                                f"got {getattr(self, name)!r}"))
        if not isinstance(self.checkpoint_dir, (str, Path)) or not str(self.checkpoint_dir):
            raise CheckpointError(Issue("CheckpointConfig.checkpoint_dir must be a folder, "
                                        f"got {self.checkpoint_dir!r}"))
        if self.save_interval < 1 or self.max_checkpoints < 0:
            raise CheckpointError(Issue("CheckpointConfig: save_interval must be ≥ 1 and max_checkpoints ≥ 0, got "
                                        f"{self.save_interval} and {self.max_checkpoints}"))
        if self.monitor_mode not in ("min", "max"):
            raise CheckpointError(Issue("CheckpointConfig.monitor_mode must be 'min' or 'max', "
                                        f"got {self.monitor_mode!r}"))
        compress.method_of(self.compression)


@dataclass
class CheckpointMetadata:
    """The CheckpointManager API's metadata record, read from the manifest (plus the file name and NodeFlow's kind)."""

    checkpoint_id: str
    timestamp: str
    epoch: int
    step: int
    model_name: str
    experiment_name: str
    file_size: int
    checksum: str
    metrics: dict[str, float]
    config: dict[str, Any]
    tags: list[str]
    description: str
    is_best: bool
    is_latest: bool
    file: str = ""
    kind: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # the rest of the manifest entry

    @classmethod
    def from_entry(cls, name: str, entry: dict[str, Any]) -> CheckpointMetadata:
        own = {f.name for f in fields(cls)} - {"file", "kind", "extra"}
        defaults = {"metrics": {}, "config": {}, "tags": [], "description": "", "is_best": False, "is_latest": False,
                    "model_name": "", "experiment_name": "", "file_size": 0, "checksum": "", "timestamp": "",
                    "epoch": 0, "step": 0, "checkpoint_id": name}
        values = {k: entry.get(k, defaults[k]) for k in own}
        return cls(**values, file=name, kind=str(entry.get("kind", "")),
                   extra={k: v for k, v in entry.items() if k not in own and k != "kind"})


class CheckpointManager:
    def __init__(self, config: CheckpointConfig | None = None, experiment_name: str = ""):
        self.config = config or CheckpointConfig()
        if not isinstance(experiment_name, str) or any(p in experiment_name for p in ("/", "\\")) \
                or experiment_name in (".", ".."):
            raise CheckpointError(Issue(f"experiment_name must be a plain folder name, got {experiment_name!r}"))
        self.experiment_name = experiment_name
        base = Path(self.config.checkpoint_dir).expanduser()
        self.folder = base / experiment_name if experiment_name else base
        self.compression = compress.method_of(self.config.compression)
        self._claimed = False

    @classmethod
    def open(cls, folder: str | Path, **config: Any) -> CheckpointManager:
        """A manager for an existing checkpoint folder (a Trainer's, an experiment's or this API's)."""
        return cls(CheckpointConfig(checkpoint_dir=checkpoint_home(Path(folder)), **config))

    # ---- saving -------------------------------------------------------------------------
    def save_checkpoint(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                        epoch: int = 0, step: int = 0, metrics: dict[str, float] | None = None,
                        tags: list[str] | None = None, description: str = "", scheduler: Any = None,
                        config: dict[str, Any] | None = None) -> str | None:
        """Save when the interval is reached (and, with save_best_only, the monitored metric
        improved). Returns the new checkpoint's id, or None when nothing was due; then one log
        line says why (a warning while the folder has no checkpoint yet, else at info level)."""
        tags = check_tags(tags)
        metrics = {k: float(v) if isinstance(v, torch.Tensor) else v for k, v in (metrics or {}).items()}
        monitor = self.config.monitor_metric
        if self.config.save_best_only and monitor not in metrics:
            raise CheckpointError(Issue(f"save_best_only needs metrics[{monitor!r}] (monitor_metric); got "
                                        f"{', '.join(metrics) or 'no metrics'}"))
        entries = read_entries(self.folder)  # read once per save
        best_name, best_so_far = self._best(entries)
        improved = monitor in metrics and self._better(metrics[monitor], best_so_far)
        why = self._not_due(epoch, metrics, improved, best_so_far)
        if why:
            log.log(logging.INFO if entries else logging.WARNING, "checkpoint not saved at epoch %s: %s", epoch, why)
            return None
        checkpoint_id = self._new_id(epoch, step, entries)
        previous_best = best_name if improved and KEEP not in (entries.get(best_name or "", {}).get("tags") or []) \
            else None
        payload = {
            "epoch": epoch, "step": step, "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict() if optimizer is not None and self.config.save_optimizer
            else None,
            "scheduler_state_dict": scheduler.state_dict() if scheduler is not None and self.config.save_scheduler
            else None,
            "loss": metrics.get("loss", metrics.get(monitor)), "metrics": metrics, "config": dict(config or {}),
            "monitor": monitor, "best": metrics.get(monitor) if improved else best_so_far,
            "checkpoint_id": checkpoint_id, "nodeflow_version": __version__,
        }
        try:
            self.save_file(checkpoint_id + ".pt", payload, "periodic", tags=tags, description=description,
                           best=improved, extra={"checkpoint_id": checkpoint_id, "model_name": type(model).__name__})
        except OSError as exc:
            raise CheckpointError(Issue(f"could not write checkpoint {checkpoint_id}: {exc.strerror or exc}; "
                                        "earlier checkpoints are intact", file=str(self.folder))) from None
        if previous_best is not None:  # its backup was there because it was the best
            remove_backup(self.folder / previous_best)
        if self.config.max_checkpoints:
            self._prune()
        return checkpoint_id

    def _not_due(self, epoch: int, metrics: dict[str, Any], improved: bool, best: float | None) -> str:
        """Why a save at `epoch` is not due ("" when it is)."""
        interval = self.config.save_interval
        if epoch % interval != 0:
            return f"save interval not reached (save_interval={interval} saves at epochs divisible by {interval})"
        if self.config.save_best_only and not improved:
            monitor, value = self.config.monitor_metric, metrics[self.config.monitor_metric]
            return (f"performance not improved ({monitor}={value:.6g}, best so far {best:.6g}, "
                    f"monitor_mode={self.config.monitor_mode}; save_best_only)" if best is not None and value == value
                    else f"performance not improved ({monitor}={value}: never the best; save_best_only)")
        return ""

    def _prune(self) -> None:
        """Keep max_checkpoints files: the best among them, then the newest others (files tagged
        `keep` come on top). The file just saved always stays, so max_checkpoints=1 keeps the best
        and, while it is not the best, the latest."""
        prune_periodic(self.folder, self.config.max_checkpoints)

    def save_file(self, name: str, payload: dict[str, Any], kind: str, info: dict[str, Any] | None = None,
                  tags: list[str] | None = None, description: str = "", best: bool | None = None,
                  extra: dict[str, Any] | None = None, same_as: Path | None = None) -> Path:
        """The one save path, for the Trainer and save_checkpoint: free-space check, durable atomic
        write (hashed as it is written), manifest entry, then a backup of best/final/`keep` files.

        `same_as`: a file this manager just saved from the same `payload`; its bytes are
        linked (or copied) instead of serializing the state again. Returns the file's path."""
        name = compress.file_name(name, self.compression)
        path, tags = inside(self.folder, name), check_tags(tags)
        info = {"experiment": self.experiment_name or self.folder.name, **(info or {})}
        saved: dict[str, Any] = {}

        def write() -> None:
            self._claim()
            source = read_entries(self.folder).get(same_as.name) if same_as is not None else None
            if same_as is not None and source is not None and same_as.is_file():
                checksum = source["checksum"]
                place_copy(same_as, path, link=False)  # a separate file: a flipped byte hits one, not both
            else:  # also when that file went with a removed folder: serialize after all
                checksum = atomic_save(payload, path, self.compression)
            entry = make_entry(path, payload, kind, info, checksum)
            entry.update(extra or {}, tags=tags, description=description)
            if best is not None:
                entry["is_best"] = best
            if not self.config.save_metadata:
                entry.pop("config", None)
                entry.pop("workflow", None)
            commit_entry(self.folder, name, entry)
            saved.update(entry)

        in_folder(self.folder, write)  # removed during training: recreated, saving goes on
        if self.config.backup_checkpoints and (kind in ("best", "final") or saved["is_best"] or KEEP in tags):
            self._backup(path)
        return path

    # ---- reading --------------------------------------------------------------------------
    def list_checkpoints(self, tag: str | None = None) -> list[CheckpointMetadata]:
        """Every checkpoint in training order (optionally only those tagged `tag`)."""
        found = [CheckpointMetadata.from_entry(n, e) for n, e, _ in rows(self.folder, full=False) if e is not None] \
            if self.folder.is_dir() else []
        return [m for m in found if tag is None or tag in m.tags]

    def load_checkpoint(self, checkpoint_id: str = "latest", model: torch.nn.Module | None = None,
                        optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                        map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """Load a checkpoint by id, file name, 'latest' or 'best' (SHA-256 checked first when
        validate_checkpoints); fill `model`, `optimizer` and `scheduler` when given."""
        path = self.path_of(checkpoint_id)
        data = load_checkpoint(path, map_location, verify=self.config.validate_checkpoints)
        if model is not None:
            load_weights(model, data["model_state_dict"], str(path))
        if optimizer is not None and data.get("optimizer_state_dict") is not None:
            optimizer.load_state_dict(data["optimizer_state_dict"])
        if scheduler is not None and data.get("scheduler_state_dict") is not None:
            scheduler.load_state_dict(data["scheduler_state_dict"])
        return data

    def validate_checkpoint(self, checkpoint_id: str) -> bool:
        """True when the file matches its manifest entry (size and SHA-256); False for an unknown
        id or a bad file, with a log line saying why."""
        try:
            problem = self.problem(checkpoint_id)
        except CheckpointError as exc:
            problem = str(exc)
        if problem is not None:
            log.warning("checkpoint %r is not valid: %s", checkpoint_id, problem)
        return problem is None

    def problem(self, checkpoint_id: str) -> str | None:
        """Why the checkpoint does not verify, or None."""
        path = self.path_of(checkpoint_id)
        return verify_file(path, read_entries(self.folder).get(path.name))

    def compare_checkpoints(self, checkpoint_ids: list[str]) -> dict[str, Any]:
        """Metrics side by side, and per tensor the largest difference from the first checkpoint."""
        loaded = {i: self.load_checkpoint(i) for i in checkpoint_ids}
        metrics = sorted({k for d in loaded.values() for k in (d.get("metrics") or {})})
        first = next(iter(loaded.values()))["model_state_dict"] if loaded else {}
        return {
            "checkpoints": list(loaded),
            "epochs": {i: d.get("epoch") for i, d in loaded.items()},
            "steps": {i: d.get("step") for i, d in loaded.items()},
            "metrics_comparison": {m: {i: (d.get("metrics") or {}).get(m) for i, d in loaded.items()} for m in metrics},
            "weight_differences": {i: weight_differences(first, d["model_state_dict"]) for i, d in loaded.items()},
        }

    def get_checkpoint_summary(self) -> dict[str, Any]:
        """total_checkpoints, total_size_mb, best_checkpoint, best_metric, latest_checkpoint, oldest, newest."""
        return summary(read_entries(self.folder))

    # ---- changing -----------------------------------------------------------------------------
    def tag_checkpoint(self, checkpoint_id: str, add: Sequence[str] = (), remove: Sequence[str] = (),
                       description: str | None = None) -> CheckpointMetadata:
        path = self.path_of(checkpoint_id)
        entry = set_tags(self.folder, path.name, add, remove, description)
        if KEEP in entry["tags"] and self.config.backup_checkpoints:
            self._backup(path)
        return CheckpointMetadata.from_entry(path.name, entry)

    def delete_checkpoint(self, checkpoint_id: str) -> None:
        """Remove the file, its backup and its manifest entry (the entry first)."""
        remove_checkpoints(self.folder, [self.path_of(checkpoint_id).name])

    def export_checkpoint(self, checkpoint_id: str, dest: str | Path, format: str = "torch",
                          force: bool = False) -> Path:
        """Copy a verified checkpoint (or its weights as safetensors) with its manifest entry beside it."""
        from nodeflow.checkpoints.export import export_file

        return export_file(self.path_of(checkpoint_id), Path(dest), format, force)

    def restore_backup(self, checkpoint_id: str) -> str:
        path = self.path_of(checkpoint_id)
        try:
            return restore_backup(path, read_entries(self.folder).get(path.name))
        except ValueError as exc:
            raise CheckpointError(Issue(f"cannot restore: {exc}", file=str(path))) from None

    # ---- helpers ------------------------------------------------------------------------------
    def path_of(self, checkpoint_id: str) -> Path:
        """The file for an id, a file name, 'latest' or 'best'; unknown ids name the nearest ones."""
        if not isinstance(checkpoint_id, str):
            raise CheckpointError(Issue(f"checkpoint id must be a string, got {checkpoint_id!r}"))
        entries = read_entries(self.folder)
        if checkpoint_id == "latest" and entries:  # the flagged one, else (an older manifest) the newest
            return self.folder / str(latest(entries))
        for name, entry in entries.items():
            if checkpoint_id in (name, entry.get("checkpoint_id")) \
                    or (checkpoint_id == "best" and entry.get("is_best")):
                return self.folder / name
        ids = [str(e.get("checkpoint_id", n)) for n, e in entries.items()]
        near = difflib.get_close_matches(checkpoint_id, ids, n=3, cutoff=0.0)
        hint = f"; nearest: {', '.join(near)}" if near else "; the folder has none"
        raise CheckpointError(Issue(f"no checkpoint {checkpoint_id!r}{hint}", file=str(self.folder)))

    def _best(self, entries: dict[str, dict[str, Any]]) -> tuple[str | None, float | None]:
        """The current best checkpoint's file name and monitored value."""
        best = [(n, e["monitor_value"]) for n, e in entries.items() if e.get("is_best")
                and e.get("monitor") == self.config.monitor_metric and e.get("monitor_value") is not None]
        return best[-1] if best else (None, None)

    def _better(self, value: float, best: float | None) -> bool:
        if value != value:  # NaN is never best
            return False
        return best is None or (value < best if self.config.monitor_mode == "min" else value > best)

    def _new_id(self, epoch: int, step: int, entries: dict[str, dict[str, Any]]) -> str:
        base = f"checkpoint_epoch_{epoch:04d}_step_{step:06d}_{time.strftime('%Y%m%d_%H%M%S')}"
        taken = set(entries)
        taken |= {p.name for p in self.folder.iterdir()} if self.folder.is_dir() else set()
        n, candidate = 2, base
        while compress.file_name(candidate + ".pt", self.compression) in taken:
            candidate, n = f"{base}_{n}", n + 1
        return candidate

    def _claim(self) -> None:
        """Mark the folder ours before the first file (run_folder.adopt)."""
        if not (self._claimed and (self.folder / MANIFEST).exists()):
            adopt(self.folder)
        self._claimed = True

    def _backup(self, path: Path) -> None:
        try:
            make_backup(path, self.config.backup_link)
        except OSError as exc:
            warnings.warn(f"could not back up {path.name} into {path.parent / 'backups'}: {exc.strerror or exc}; "
                          "training goes on without this backup", CheckpointWarning, stacklevel=4)


def validate_checkpoint(checkpoint_path: str | Path, expected_checksum: str) -> bool:
    """True when the file exists and its SHA-256 is `expected_checksum` (the manifest's `checksum`)."""
    path = Path(checkpoint_path)
    if not path.is_file():
        log.warning("checkpoint %s is not valid: file is missing", path)
        return False
    digest = sha256_of(path)
    if digest != expected_checksum:
        log.warning("checkpoint %s is not valid: SHA-256 %s, expected %s", path, digest, expected_checksum)
        return False
    return True


def weight_differences(base: dict[str, Any], other: dict[str, Any]) -> dict[str, float | None]:
    """Per tensor the largest absolute difference (None: missing or another shape)."""
    out: dict[str, float | None] = {}
    for name, tensor in base.items():
        theirs = other.get(name)
        if theirs is None or theirs.shape != tensor.shape:
            out[name] = None
        else:
            out[name] = (tensor.double() - theirs.double()).abs().max().item() if tensor.numel() else 0.0
    return out
