"""Claiming a checkpoint folder for a run: two runs never mix, foreign files are never replaced.

A fresh run into a folder that holds another run, or files NodeFlow did not write,
stops with one line (exit 2) unless the user asked to move them aside (`overwrite`):
then they go to `previous/<run-id>/`, never deleted. A resumed run continues the
folder's run and keeps its id. The same check runs at validation (`folder_problem`) and
again when the Trainer starts (`claim`), since placeholders are named only then.
"""
from __future__ import annotations

import os
import secrets
import time
from fnmatch import fnmatch
from pathlib import Path

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.ckpt_table import BACKUPS
from nodeflow.core.files import fsync_dir
from nodeflow.core.outputs import MANIFEST, conflict_message, folder_state, manifest_doc, next_free
from nodeflow.training import history
from nodeflow.training.checkpoint import BEST, FINAL, INTERRUPTED
from nodeflow.training.manifest import read_manifest, start_run

# names a run writes; `.pt*` covers compressed files (.pt.zst, .pt.gz) and set-aside ones (.pt.corrupt)
RUN_FILES = (MANIFEST, "checkpoint_epoch_*.pt*", BEST + "*", FINAL + "*", INTERRUPTED + "*", "*.pt.corrupt*", BACKUPS,
             *history.FILES)
PREVIOUS = "previous"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def folder_problem(folder: Path, continuing: bool, overwrite: bool) -> str | None:
    """Why a run may not write into `folder` as asked, or None."""
    state = folder_state(folder, RUN_FILES)
    if overwrite or not (state.foreign or (state.run_id and not continuing)):
        return None
    return conflict_message(folder, state)


def claim(folder: Path, continuing: bool, overwrite: bool, workflow_hash: str) -> tuple[str, Path | None]:
    """Make `folder` this run's before anything is written there.

    Returns the run id and, when earlier files were moved aside, where they went.
    """
    problem = folder_problem(folder, continuing, overwrite)
    if problem:
        raise DataError(Issue(problem, field="checkpoint_dir"))
    state = folder_state(folder, RUN_FILES)
    moved = None
    if state.foreign or (state.run_id and not continuing):
        moved = move_aside(folder, state.run_id or "unnamed-" + time.strftime("%Y%m%d-%H%M%S"))
    elif state.run_id:  # continuing our own run: drop the temp files of a save that was killed
        for stale in folder.glob(".*.tmp"):
            if is_run_temp(stale.name):
                stale.unlink(missing_ok=True)
    run = dict((manifest_doc(folder) or {}).get("run") or {}) if moved is None else {}
    run.setdefault("id", state.run_id if continuing and state.run_id else new_run_id())
    run.setdefault("started", time.strftime("%Y-%m-%dT%H:%M:%S"))
    run["workflow_hash"] = workflow_hash
    try:
        folder.mkdir(parents=True, exist_ok=True)
        start_run(folder, run)
    except OSError as exc:
        raise DataError(Issue(f"cannot write to {folder}: {exc.strerror or exc}", field="checkpoint_dir")) from None
    return run["id"], moved


def move_aside(folder: Path, label: str) -> Path:
    """Move every file a run wrote (or would write) into previous/<label>/; the manifest goes last."""
    entries = read_manifest(folder)
    names = [p.name for p in folder.iterdir() if p.name != MANIFEST and (p.name in entries or is_run_temp(p.name)
                                                                          or any(fnmatch(p.name, pattern)
                                                                                 for pattern in RUN_FILES))]
    dest = next_free(folder / PREVIOUS / label)
    dest.mkdir(parents=True)
    for name in names + ([MANIFEST] if (folder / MANIFEST).exists() else []):
        os.replace(folder / name, dest / name)
    fsync_dir(folder)
    return dest


def is_run_temp(name: str) -> bool:
    """A temp file our atomic writes leave when killed: `.NAME.<8 random characters>.tmp` for a run's name."""
    inner = name[1:-4].rpartition(".")[0] if name.startswith(".") and name.endswith(".tmp") else ""
    return any(fnmatch(inner, pattern) for pattern in RUN_FILES)
