"""Names in a checkpoint folder: a manifest may only name files inside it, and nothing is
deleted or moved outside it.

manifest.json is a file anyone can edit. The manifest reader (nodeflow.core.outputs)
checks every entry name with `check_entry_names` and refuses the whole manifest over one
that is not a plain file name in its folder, so nothing is opened, deleted or moved
through it. Every code path that deletes or moves a checkpoint file also passes its
target through `inside` first: a second line of defence for names that come from
anywhere else. Standard library only.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from nodeflow.core.errors import CheckpointError, Issue


def file_name_problem(name: object) -> str | None:
    """Why `name` is not a plain file name (no folder part, not absolute, no NUL), or None."""
    if not isinstance(name, str) or not name:
        return "an empty name" if name == "" else f"not a file name ({type(name).__name__})"
    if "\x00" in name:
        return "a NUL character"
    if "/" in name or "\\" in name:
        return "a path separator"
    if name in (".", ".."):
        return "a folder, not a file"
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor:
        return "an absolute path"
    return None


def check_entry_names(names: Iterable[object], manifest: Path, what: str = "entry") -> None:
    """CheckpointError naming the first entry of `manifest` that is not a plain file name in its folder."""
    for name in names:
        problem = file_name_problem(name)
        if problem is not None:
            raise CheckpointError(Issue(f"refused: {what} {name!r} is not a plain file name in this folder "
                                        f"({problem}); nothing is read, deleted or moved through this manifest",
                                        file=str(manifest)))


def check_manifest(doc: dict[str, Any], manifest: Path) -> None:
    """Every name a manifest gives: its entries' file names and its run's id (previous/<run id>/)."""
    if isinstance(doc.get("checkpoints"), dict):
        check_entry_names(doc["checkpoints"], manifest)
    run = doc.get("run")
    if isinstance(run, dict) and run.get("id") not in (None, ""):
        check_entry_names([run["id"]], manifest, "run id")


def inside(folder: Path, name: str | Path) -> Path:
    """`folder / name`, after checking that it lies in `folder` (its own links not followed);
    CheckpointError otherwise. For every path about to be deleted, moved or replaced."""
    path = Path(folder) / name
    base, target = Path(folder).resolve(), Path(os.path.abspath(path))
    parent = target.parent.resolve()
    outside = not (parent == base or base in parent.parents)
    if outside or file_name_problem(target.name) is not None:
        raise CheckpointError(Issue(f"refused: {path} is outside its folder {folder}; nothing deleted or moved",
                                    file=str(path)))
    return path
