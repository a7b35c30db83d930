"""Checkpoint layouts: where a run's files go and what they are called. Standard library only.

- `nodeflow` (the Trainer's own files): `checkpoint_dir/` holds checkpoint_epoch_N.pt, best_model.pt,
  final_model.pt, manifest.json and the history files.
- `experiments` (the experiments layout): `checkpoint_dir` is the base folder; each run gets
  `<experiment>/` with config.yaml, checkpoints/ (epoch_0010.pt, latest.pt, best.pt and
  the manifest), tensorboard/ and the history files. `<experiment>` is `experiment_name`,
  or `{model}_{dataset}_{timestamp}` when that is empty.

`extension` (.pt or .pth) gives the same names ending in .pth (best_model.pth, checkpoint_epoch_5.pth).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.manifest import BACKUPS
from nodeflow.checkpoints.folder_state import MANIFEST, FolderState, folder_state

LAYOUTS = ("nodeflow", "experiments")
EXTENSIONS = (".pt", ".pth")
CHECKPOINTS = "checkpoints"  # the experiments layout's checkpoint folder inside a run folder
HISTORY = ("workflow.json", "config.json", "hyperparameters.json", "training_log.txt", "history", "metrics",
           "tensorboard")
CONFIG_YAML = "config.yaml"


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an experiment folder name, or None."""
    if any(sep in name for sep in ("/", "\\", os.sep)) or name in (".", "..") or ".." in name.split("."):
        return f"must be a plain folder name, without a path separator or '..' (got {name!r})"
    return None


@dataclass(frozen=True)
class Layout:
    name: str = "nodeflow"
    extension: str = ".pt"

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> Layout:
        return cls(params.get("layout") or "nodeflow", params.get("extension") or ".pt")

    @property
    def experiments(self) -> bool:
        return self.name == "experiments"

    def periodic(self, epoch: int) -> str:
        return (f"epoch_{epoch:04d}" if self.experiments else f"checkpoint_epoch_{epoch}") + self.extension

    def periodic_step(self, step: int) -> str:
        """A periodic checkpoint inside an epoch (save_every_n_iters)."""
        return (f"step_{step:07d}" if self.experiments else f"checkpoint_iter_{step}") + self.extension

    @property
    def best(self) -> str:
        return ("best" if self.experiments else "best_model") + self.extension

    @property
    def final(self) -> str | None:
        """None in experiments: latest.pt after the last epoch is the final state."""
        return None if self.experiments else "final_model" + self.extension

    @property
    def latest(self) -> str | None:
        return "latest" + self.extension if self.experiments else None

    @property
    def interrupt(self) -> str:
        return self.latest or "checkpoint_interrupted" + self.extension

    def checkpoint_folder(self, run: Path) -> Path:
        """Where the checkpoint files and manifest.json of the run in `run` live."""
        return run / CHECKPOINTS if self.experiments else run

    @property
    def checkpoint_patterns(self) -> tuple[str, ...]:
        """Names a run writes in its checkpoint folder (`.pt*`: also .pth and compressed files)."""
        stems = ("epoch_*", "step_*", "latest", "best") if self.experiments else \
            ("checkpoint_epoch_*", "checkpoint_iter_*", "best_model", "final_model", "checkpoint_interrupted")
        return (MANIFEST, *(stem + ".pt*" for stem in stems), "*.pt*.corrupt*", BACKUPS)

    @property
    def patterns(self) -> tuple[str, ...]:
        """Names a run writes in its run folder: what counts as another run's or foreign there."""
        if self.experiments:
            return (CONFIG_YAML, CHECKPOINTS, *HISTORY)
        return (*self.checkpoint_patterns, *HISTORY)


def state_of(folder: Path, layout: Layout) -> FolderState:
    """Another run's or foreign files in the run folder `folder`, with its manifest where `layout` keeps it."""
    return folder_state(folder, layout.patterns, layout.checkpoint_folder(folder))


def blocks(state: FolderState, continuing: bool) -> bool:
    """Whether a fresh run (or one continuing another run than `state`'s) must not write there."""
    return bool(state.foreign or (state.run_id and not continuing))


def checkpoint_home(folder: Path) -> Path:
    """Where a folder's checkpoints are: an experiments run folder's checkpoints/, else the folder itself."""
    inner = folder / CHECKPOINTS
    return inner if not (folder / MANIFEST).exists() and (inner / MANIFEST).is_file() else folder


def auto_name(model: str, dataset: str, stamp: str) -> str:
    """The experiments layout's automatic name: {model}_{dataset}_{timestamp}."""
    return f"{model}_{dataset}_{stamp}"


def newest_experiment(base: Path, prefix: str) -> Path | None:
    """The newest run folder `base/prefix*` holding a checkpoint manifest (names end in a timestamp)."""
    if not base.is_dir():
        return None
    found = sorted(p for p in base.glob(prefix + "*") if (p / CHECKPOINTS / MANIFEST).is_file())
    return found[-1] if found else None
