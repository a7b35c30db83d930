"""backups/ beside the checkpoints: second copies of the files that matter most.

Best and final checkpoints, and any tagged `keep`, are copied into `backups/` when
backups are on. A copy, not a hard link, by default: a hard link shares the bytes, so it
survives deletion or replacement of the main file but not a flipped byte in it, and
bit rot is what the fallback is for (`link=True` trades that for disk space). A backup
is checked against the main file's manifest entry, so a backup never stands in for a
file it does not match. Standard library only.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.manifest import BACKUPS, verify_file
from nodeflow.core.files import atomic_write, fsync_dir
from nodeflow.checkpoints.folder_names import inside


def make_backup(path: Path, link: bool = False) -> Path:
    """Copy (or hard-link) `path` into backups/ atomically; OSError when that folder cannot be written."""
    target = _backup_of(path)
    target.parent.mkdir(exist_ok=True)
    place_copy(path, target, link)
    return target


def place_copy(source: Path, target: Path, link: bool = True) -> None:
    """Put `source`'s bytes at `target` atomically: a hard link where allowed (and asked), else a copy."""
    if link:
        temp = target.with_name(f".{target.name}.link.tmp")
        temp.unlink(missing_ok=True)
        try:
            os.link(source, temp)
            os.replace(temp, target)
            fsync_dir(target.parent)
            return
        except OSError:
            temp.unlink(missing_ok=True)  # another file system or no links: copy instead
    with source.open("rb") as handle:
        atomic_write(target, lambda out: shutil.copyfileobj(handle, out, 1 << 20))


def _backup_of(path: Path) -> Path:
    """backups/NAME for `path`, checked to lie inside the checkpoint folder's backups/."""
    return inside(path.parent, Path(BACKUPS) / path.name)


def restore_backup(path: Path, entry: dict[str, Any] | None) -> str:
    """Put a verified backup back in place of `path`; the file it replaces is kept as NAME.corrupt.

    Returns a one-line account; raises ValueError when there is no backup that matches."""
    backup = _backup_of(path)
    inside(path.parent, path.name)
    if entry is None:
        raise ValueError("no manifest entry, so no backup can be matched to it")
    if not backup.is_file():
        raise ValueError(f"no backup at {backup}")
    problem = verify_file(backup, entry)
    if problem is not None:
        raise ValueError(f"the backup does not match the manifest either: {problem}")
    if verify_file(path, entry) is None:
        return f"{path} already verifies; nothing to restore"
    kept = ""
    if path.exists():
        corrupt = inside(path.parent, path.name + ".corrupt")
        os.replace(path, corrupt)
        kept = f"; the damaged file is kept as {corrupt.name}"
    with backup.open("rb") as source:
        atomic_write(path, lambda out: shutil.copyfileobj(source, out, 1 << 20))
    return f"restored {path} from {backup}{kept}"
