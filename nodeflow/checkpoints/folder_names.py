"""Names in a checkpoint folder: a manifest may only name files inside it, and nothing is
deleted or moved outside it.

manifest.json is a file anyone can edit. The manifest reader (nodeflow.checkpoints.folder_state)
checks every entry name with `check_entry_names` and refuses the whole manifest over one
that is not a plain file name in its folder, so nothing is opened, deleted or moved
through it. Every code path that deletes or moves a checkpoint file also passes its
target through `inside` first: a second line of defence for names that come from
anywhere else.

Links: nothing in a run folder is written, appended, moved or deleted through a symbolic
link. `inside` refuses a path with a link anywhere below its folder (the folder itself
may be a link the user chose, such as checkpoints -> /big/disk), `link_below` finds one
among a run folder's own entries before a run starts, and `append_text` opens without
following a link. Standard library only.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from nodeflow.core.errors import CheckpointError, Issue, UserError


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


def link_message(link: Path) -> str:
    """One line saying that `link` is a link where NodeFlow keeps its own file or folder."""
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return (f"refused: {link} is a link (to {target}) where NodeFlow keeps its own file or folder; nothing in "
            "a run folder is written, moved or deleted through a link (remove the link)")


def link_error(link: Path, error: type[UserError] = CheckpointError, field: str = "") -> UserError:
    """The one-line error for a link found where NodeFlow keeps its own file or folder."""
    return error(Issue(link_message(link), field=field))


def first_link(folder: Path, name: str | Path) -> Path | None:
    """The first part of `folder / name` below `folder` that is a symbolic link, or None."""
    path = Path(folder)
    for part in Path(name).parts:
        path = path / part
        if path.is_symlink():
            return path
    return None


def link_below(folder: Path, names: Iterable[str]) -> Path | None:
    """The first symbolic link among `folder`'s entries called one of `names` (globs allowed), or
    anywhere inside those that are folders (their links not followed); None when there is none."""
    if not folder.is_dir():
        return None
    for entry in sorted(folder.iterdir()):
        if not any(fnmatch(entry.name, pattern) for pattern in names):
            continue
        if entry.is_symlink():
            return entry
        if entry.is_dir():
            for root, dirs, files in os.walk(entry):  # links to folders are listed, never entered
                for name in sorted(dirs + files):
                    if (Path(root) / name).is_symlink():
                        return Path(root) / name
    return None


def append_text(folder: Path, name: str, text: str) -> None:
    """Append `text` to `folder / name` (created if missing), never through a link: CheckpointError
    when that file or a folder on the way is one."""
    path = inside(folder, name)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError:
        if path.is_symlink():  # made a link after the check above
            raise link_error(path) from None
        raise
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(text)


def inside(folder: Path, name: str | Path) -> Path:
    """`folder / name`, after checking that it lies in `folder` and that no part of it below `folder`
    is a link; CheckpointError otherwise. For every path about to be written, deleted, moved or replaced."""
    path = Path(folder) / name
    link = first_link(folder, name)
    if link is not None:
        raise link_error(link)
    base, target = Path(folder).resolve(), Path(os.path.abspath(path))
    parent = target.parent.resolve()
    outside = not (parent == base or base in parent.parents)
    if outside or file_name_problem(target.name) is not None:
        raise CheckpointError(Issue(f"refused: {path} is outside its folder {folder}; nothing deleted or moved",
                                    file=str(path)))
    return path
