"""A Trainer's run folder, from its params to its files: the one owner of where a run writes.

- `RunRequest`: the Trainer's folder params, read once (`RunRequest.of(params)`), and the one
  home of the resume words (`RESUME_WORDS`). `planned()` names the folder as far as validation
  and the editor can before the run; `problems()` and `conflict()` are validation's lines;
  `named(...)` fills the placeholders at run time.
- `RunFolder`: that folder, a frozen value (it crosses processes under torchrun): `claim` makes
  it this run's (run_folder.claim), `adopt` is the CheckpointManager API's claim, `manager`
  saves into it, `write` and `append` write its other files (never through a link),
  `resume_file` picks the file a run continues from, `final_file` and `progress` read it back.
  Standard library only (the editor asks it in-process); `manager` and `final_file` load torch
  when called.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodeflow.checkpoints.folder_names import append_text, inside
from nodeflow.checkpoints.folder_state import FolderState, manifest_doc
from nodeflow.checkpoints.layout import CHECKPOINTS, Layout, auto_name, blocks, name_problem, newest_experiment, \
    state_of
from nodeflow.checkpoints.resume import newest_valid, set_aside
from nodeflow.checkpoints import run_folder
from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.files import atomic_write_text, in_folder
from nodeflow.core.placeholders import fill, placeholder_problem

if TYPE_CHECKING:
    from nodeflow.checkpoints.manager import CheckpointManager

RESUME_WORDS = ("auto", "best")  # resume=auto: the newest valid checkpoint in the run folder; best: the best one
PLACEHOLDERS = ("model", "dataset", "timestamp", "run")  # allowed in checkpoint_dir
Log = Callable[[str], None]


def _path(value: str) -> Path:
    """`value` as the run uses it: ~ expanded, relative to the current folder."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else Path.cwd() / path


@dataclass(frozen=True)
class RunRequest:
    """The Trainer's folder and saving params (the defaults are the Trainer's, but for async_save)."""

    checkpoint_dir: str = ""
    layout: Layout = field(default_factory=Layout)
    experiment_name: str = ""
    resume: str = ""  # "", a RESUME_WORDS word, or a checkpoint file
    overwrite: bool = False
    save_every_n_epochs: int = 5
    save_every_n_iters: int = 0
    max_checkpoints: int = 0  # periodic files kept, oldest removed first (0: all); best and final never count
    save_top_k: int = 0  # periodic files kept, those with the worst monitored value removed first (0: off)
    save_best: bool = True
    save_best_only: bool = False
    backup_checkpoints: bool = False
    compression: str = "none"
    async_save: bool = False

    FILES = run_folder.RUN_FILES  # names a run of the default layout writes (the checkpoint_dir param's `writes`)
    RESUME_CHOICES = ("", *RESUME_WORDS)

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> RunRequest:
        """The request a Trainer's params make (params it lacks keep their defaults)."""
        own = {name: params[name] for name in cls.__dataclass_fields__ if name != "layout" and name in params}
        return cls(layout=Layout.of(params), **own)

    @staticmethod
    def resuming(source: str = RESUME_WORDS[0]) -> dict[str, Any]:
        """The params that continue a run from `source` (a resume word or a checkpoint file)."""
        return {"resume": source}

    @staticmethod
    def replacing() -> dict[str, Any]:
        """The params that move a used folder aside and start afresh."""
        return {"overwrite": True}

    @property
    def searches(self) -> bool:
        """resume is auto or best: the run looks for its checkpoint in its own folder."""
        return self.resume in RESUME_WORDS

    def named_file(self) -> Path | None:
        """The checkpoint file `resume` names (None for '', auto and best)."""
        return _path(self.resume) if self.resume and not self.searches else None

    def problems(self) -> list[tuple[str, str]]:
        """(param, one line) for every folder param the run cannot use, whatever is on disk."""
        problems = []
        template = placeholder_problem(self.checkpoint_dir, PLACEHOLDERS)
        if template:
            problems.append(("checkpoint_dir", template))
        if self.experiment_name and name_problem(self.experiment_name):
            problems.append(("experiment_name", str(name_problem(self.experiment_name))))
        file = self.named_file()
        if self.searches and not self.checkpoint_dir:
            problems.append(("resume", f"resume={self.resume!r} looks in checkpoint_dir, which is empty"))
        elif file is not None and not file.is_file():
            problems.append(("resume", f"checkpoint not found: {self.resume}"))
        if self.save_top_k and self.max_checkpoints:
            problems.append(("save_top_k", "set either save_top_k (keeps the best periodic files) or "
                                           "max_checkpoints (keeps the newest), not both"))
        return problems

    def planned(self) -> Path | None:
        """The run folder these params name before the run (relative to the cwd), or None when it is only
        named at run time (placeholders, an automatic experiment name) or saving is off."""
        if not self.checkpoint_dir or "{" in self.checkpoint_dir:
            return None
        base = Path(os.path.expanduser(self.checkpoint_dir))
        if not self.layout.experiments:
            return base
        name = self.experiment_name or self._experiment_of(base)
        return base / name if name and not name_problem(name) else None

    def conflict(self) -> str | None:
        """Why the planned run folder cannot take this run (another run, foreign files, a link), or None."""
        folder = self.planned()
        if folder is None:
            return None
        try:
            return self.at(folder).problem()
        except CheckpointError as exc:  # a manifest there that names files outside the folder
            return str(exc)

    def at(self, folder: Path) -> RunFolder:
        return RunFolder(folder, self)

    def named(self, model: str, dataset: str, stamp: str) -> RunFolder:
        """The run's folder: checkpoint_dir with {model}, {dataset}, {timestamp} filled in, and in the
        experiments layout the experiment folder inside it ({model}_{dataset}_{timestamp} when unnamed).

        {run} is run_1, run_2, …: the first free one for a fresh run, the newest one when resuming.
        An automatic experiment name resumed with auto/best continues the newest such experiment."""
        values = dict(zip(PLACEHOLDERS, (model, dataset, stamp, "{run}")))
        base = Path(os.path.expanduser(_name_run(fill(self.checkpoint_dir, values), newest=bool(self.resume))))
        if not self.layout.experiments:
            return self.at(base)  # relative to cwd
        name = self.experiment_name or self._experiment_of(base)
        prefix = auto_name(model, dataset, "")
        newest = newest_experiment(base, prefix) if not name and self.searches else None
        return self.at(newest or base / (name or prefix + stamp))

    def renamed(self, folder: Path, run_dir: Path) -> str:
        """The `param=value` that sends this run to `folder` instead (a free folder beside the planned one)."""
        if self.layout.experiments:
            return f"experiment_name={folder.name}"
        absolute = Path(os.path.expanduser(self.checkpoint_dir)).is_absolute()
        return f"checkpoint_dir={folder if absolute else os.path.relpath(folder, run_dir)}"

    def _experiment_of(self, base: Path) -> str | None:
        """The experiment a resume path names: `base/<name>/checkpoints/latest.pt` gives <name>."""
        if not self.resume or self.searches:
            return None
        path = Path(os.path.expanduser(self.resume)).absolute()
        if path.parent.name == CHECKPOINTS and path.parent.parent.parent.resolve() == base.absolute().resolve():
            return path.parent.parent.name
        return None


def _name_run(template: str, newest: bool = False) -> str:
    """Fill a path's {run} with run_1, run_2, …: the first that does not exist, or with
    `newest` the last that does (run_1 when none does)."""
    def named(n: int) -> str:
        return template.replace("{run}", f"run_{n}")

    n = 1
    while "{run}" in template and Path(os.path.expanduser(named(n))).exists():
        n += 1
    return named(n - 1 if newest and n > 1 else n)


@dataclass(frozen=True)
class RunFolder:
    """One run's folder (`path`, relative to the cwd as named) and the request that named it;
    `run_id` and `workflow_hash` once claimed."""

    path: Path
    request: RunRequest = field(default_factory=RunRequest)
    run_id: str = ""
    workflow_hash: str = ""

    @property
    def checkpoints(self) -> Path:
        """Where the checkpoint files and manifest.json live."""
        return self.request.layout.checkpoint_folder(self.path)

    def continues(self) -> bool:
        """Whether the request continues the run in this folder (rather than starting one there)."""
        file = self.request.named_file()
        return self.request.searches or file is not None and file.resolve().parent == self.checkpoints.resolve()

    def in_the_way(self) -> FolderState | None:
        """Another run's manifest this request does not continue, or files NodeFlow did not write; else None."""
        state = state_of(self.path, self.request.layout)
        return state if blocks(state, self.continues()) else None

    def problem(self) -> str | None:
        """Why the run may not write here as asked (a link, another run, foreign files), or None."""
        return run_folder.folder_problem(self.path, self.continues(), self.request.overwrite, self.request.layout)

    def claim(self, workflow_hash: str, log: Log, run_id: str = "") -> RunFolder:
        """This folder made the run's before anything is written (earlier files moved aside with overwrite);
        a new run there takes `run_id` (the run index's) when given."""
        run_id, moved = run_folder.claim(self.path, self.continues(), self.request.overwrite, workflow_hash,
                                         self.request.layout, run_id)
        if moved is not None:
            log(f"moved the earlier files in {self.path} to {moved} (overwrite)")
        return replace(self, run_id=run_id, workflow_hash=workflow_hash)

    def adopt(self) -> None:
        """The CheckpointManager API's claim: continue our manifest, never take over another tool's."""
        run_folder.adopt(self.checkpoints)

    def file(self, name: str | Path) -> Path:
        """The run folder's file `name`, refused (CheckpointError) when it or a folder on the way is a link."""
        return inside(self.path, name)

    def write(self, name: str | Path, text: str) -> None:
        """Write the file `name` atomically (its folders made as needed), checked before and again after
        its folders were made, so neither the file nor a folder on the way is a link."""
        def write() -> None:
            self.file(name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.file(name), text)

        in_folder(self.path, write)

    def append(self, name: str, text: str) -> None:
        """Append `text` to the file `name` (created as needed), never through a link."""
        in_folder(self.path, lambda: append_text(self.path, name, text))

    def manager(self) -> CheckpointManager:
        """The CheckpointManager that writes this run's files (loads torch)."""
        from nodeflow.checkpoints.manager import CheckpointConfig, CheckpointManager

        r = self.request
        return CheckpointManager(CheckpointConfig(
            checkpoint_dir=self.checkpoints, save_interval=r.save_every_n_epochs, max_checkpoints=0,
            save_best_only=r.save_best_only, compression=r.compression, backup_checkpoints=r.backup_checkpoints))

    def info(self, device: str = "") -> dict[str, str]:
        """What every manifest entry of this run records about it."""
        info = {"experiment": self.path.name, "device": device, "workflow_hash": self.workflow_hash,
                "run_id": self.run_id}
        return {k: v for k, v in info.items() if v}

    def resume_file(self, log: Log) -> Path | None:
        """The checkpoint the run continues from: the named file, or for auto/best the newest valid
        one here (files that fail are set aside as NAME.corrupt); None: start fresh."""
        if not self.request.searches:
            return self.request.named_file()
        folder = self.checkpoints
        path, skipped = newest_valid(folder, self.request.resume)
        for name, problem in skipped:
            moved = set_aside(folder, name)
            log(f"skipping {folder / name}: {problem}" + (f"; set aside as {moved.name}" if moved else ""))
        if path is None:
            if self.request.resume == "best":
                raise CheckpointError(Issue(f"no valid best checkpoint in {folder}", field="resume"))
            log(f"no checkpoint to resume from in {folder}; starting from scratch")
        return path

    def final_file(self) -> Path:
        """The file a run here leaves the trained model's last state in (final_model.pt; latest.pt)."""
        from nodeflow.checkpoints import compress

        layout = self.request.layout
        return self.checkpoints / compress.file_name(layout.final or layout.latest or layout.best,
                                                     self.request.compression)

    def start_files(self, trainer: Mapping[str, Any], snapshot: Mapping[str, Any]) -> dict[str, str]:
        """The files a run writes into its folder as it starts: hyperparameters.json (`trainer`: the
        Trainer's params) and, in the experiments layout, config.yaml with the `checkpoint:` block."""
        import json

        files = {"hyperparameters.json": json.dumps(dict(trainer), indent=2) + "\n"}
        if self.request.layout.experiments:
            from nodeflow.checkpoints.yaml_block import config_yaml

            files["config.yaml"] = config_yaml(self.request, self.path, snapshot)
        return files

    def progress(self) -> tuple[str, int, bool]:
        """How far the run here got: ("run ID finished 12/12 epochs, best val_loss 0.031", 12, finished)."""
        doc = manifest_doc(self.checkpoints) or {}
        entries = [e for e in (doc.get("checkpoints") or {}).values() if isinstance(e, dict)]
        run_id = (doc.get("run") or {}).get("id", "?")
        done = max((int(e.get("epoch") or 0) for e in entries), default=0)
        finished = any(e.get("is_final") or e.get("kind") == "final" for e in entries)
        planned = next((((e.get("config") or {}).get("trainer") or {}).get("epochs") for e in entries
                        if (e.get("config") or {}).get("trainer")), None)
        text = f"run {run_id} {'finished' if finished else 'stopped after'} {done}"
        text += f"/{planned} epochs" if planned else " epoch(s)"
        best = next((e for e in entries if e.get("is_best") and e.get("monitor_value") is not None), None)
        if best is not None:
            text += f", best {best.get('monitor', 'loss')} {float(best['monitor_value']):.4g}"
        return text, done, finished
