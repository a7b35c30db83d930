"""Claiming a checkpoint folder for a run: two runs never mix, foreign files are never replaced.

A fresh run into a folder that holds another run, or files NodeFlow did not write,
stops with one line (exit 2) unless the user asked to move them aside (`overwrite`):
then they go to `previous/<run-id>/`, never deleted. A resumed run continues the
folder's run and keeps its id. The same check runs at validation (`folder_problem`) and
again when the Trainer starts (`claim`), since placeholders are named only then. Both refuse a run
folder where one of the run's own files or folders is a symbolic link: nothing is written,
moved or deleted through it.
"""
from __future__ import annotations

import os
import secrets
import time
from fnmatch import fnmatch
from pathlib import Path

from nodeflow.core.errors import CheckpointError, DataError, Issue
from nodeflow.core.files import fsync_dir
from nodeflow.checkpoints.folder_names import inside, link_below, link_error, link_message
from nodeflow.checkpoints.folder_state import MANIFEST, conflict_message, manifest_doc, next_free
from nodeflow.checkpoints.layout import Layout, blocks, state_of
from nodeflow.checkpoints.manifest import read_entries, start_run

RUN_FILES = Layout().patterns  # names a run of the default layout writes
PREVIOUS = "previous"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def own_links(folder: Path, layout: Layout = Layout()) -> Path | None:
    """The first symbolic link where a run in `folder` keeps its own files and folders (history/,
    metrics/, tensorboard/, backups/, previous/, the log, the manifest, ...), or None."""
    return link_below(folder, (*layout.patterns, PREVIOUS)) or \
        link_below(layout.checkpoint_folder(folder), layout.checkpoint_patterns)


def check_links(folder: Path, layout: Layout = Layout()) -> None:
    """DataError (field checkpoint_dir) naming the first link in the run folder `folder`."""
    link = own_links(folder, layout)
    if link is not None:
        raise link_error(link, DataError, "checkpoint_dir")


def folder_problem(folder: Path, continuing: bool, overwrite: bool, layout: Layout = Layout()) -> str | None:
    """Why a run may not write into the run folder `folder` as asked (`continuing`: it resumes the
    run there), or None."""
    link = own_links(folder, layout)
    if link is not None:
        return link_message(link)
    state = None if overwrite else state_of(folder, layout)
    return conflict_message(folder, state) if state is not None and blocks(state, continuing) else None


def claim(folder: Path, continuing: bool, overwrite: bool, workflow_hash: str,
          layout: Layout = Layout(), run_id: str = "") -> tuple[str, Path | None]:
    """Make the run folder `folder` this run's before anything is written there (`continuing`: the
    run resumes the run there).

    Returns the run id (a continued run keeps its own; a new one takes `run_id`, the run index's, when
    given) and, when earlier files were moved aside, where they went.
    """
    check_links(folder, layout)
    state, checkpoints = state_of(folder, layout), layout.checkpoint_folder(folder)
    if blocks(state, continuing) and not overwrite:
        raise DataError(Issue(conflict_message(folder, state), field="checkpoint_dir"))
    moved = None
    if blocks(state, continuing):
        moved = move_aside(folder, state.run_id or "unnamed-" + time.strftime("%Y%m%d-%H%M%S"), layout)
    elif state.run_id:  # continuing our own run: drop the temp files of a save that was killed
        for stale in checkpoints.glob(".*.tmp"):
            if is_run_temp(stale.name, layout.checkpoint_patterns):
                stale.unlink(missing_ok=True)
    run = dict((manifest_doc(checkpoints) or {}).get("run") or {}) if moved is None else {}
    run.setdefault("id", state.run_id if continuing and state.run_id else run_id or new_run_id())
    run.setdefault("started", time.strftime("%Y-%m-%dT%H:%M:%S"))
    run["workflow_hash"] = workflow_hash
    try:
        checkpoints.mkdir(parents=True, exist_ok=True)
        start_run(checkpoints, run)
    except OSError as exc:
        raise DataError(Issue(f"cannot write to {folder}: {exc.strerror or exc}", field="checkpoint_dir")) from None
    return run["id"], moved


def adopt(folder: Path) -> None:
    """The CheckpointManager API's claim on its folder before its first file: a folder holding our
    manifest is continued; another tool's manifest.json is never taken over."""
    if manifest_doc(folder) is not None:
        return
    if (folder / MANIFEST).exists():
        raise CheckpointError(Issue("a manifest.json NodeFlow did not write is here; not replaced "
                                    "(choose another checkpoint_dir or experiment_name)", file=str(folder)))
    start_run(folder, {"id": time.strftime("api-%Y%m%d-%H%M%S"), "started": time.strftime("%Y-%m-%dT%H:%M:%S")})


def move_aside(folder: Path, label: str, layout: Layout = Layout()) -> Path:
    """Move every file a run wrote (or would write) into previous/<label>/; the manifest goes last
    (in the experiments layout it moves with checkpoints/, in one rename)."""
    entries = read_entries(folder)
    names = [p.name for p in folder.iterdir() if p.name != MANIFEST and (
        p.name in entries or is_run_temp(p.name, layout.patterns) or any(fnmatch(p.name, pattern)
                                                                           for pattern in layout.patterns))]
    dest = next_free(inside(folder, Path(PREVIOUS) / label))
    moves = [(inside(folder, name), inside(dest, name)) for name in names + ([MANIFEST] if (folder / MANIFEST).exists()
                                                                           else [])]
    dest.mkdir(parents=True)
    for source, target in moves:
        os.replace(source, target)
    fsync_dir(folder)
    return dest


def is_run_temp(name: str, patterns: tuple[str, ...] = RUN_FILES) -> bool:
    """A temp file our atomic writes leave when killed: `.NAME.<8 random characters>.tmp` for a run's name."""
    inner = name[1:-4].rpartition(".")[0] if name.startswith(".") and name.endswith(".tmp") else ""
    return any(fnmatch(inner, pattern) for pattern in patterns)
