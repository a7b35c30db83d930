"""Changing a folder's manifest.json: one writer at a time, every change an atomic replace.

A Trainer committing an entry and the editor editing a tag can touch the same manifest
at once; each change reads, edits and writes the whole file under an exclusive lock on
the folder, so neither loses the other's change. Standard library only (the editor
edits tags in its own process).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from nodeflow.core.ckpt_table import mark_latest, read_entries
from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.files import atomic_write_text
from nodeflow.core.folder_names import check_entry_names
from nodeflow.core.outputs import MANIFEST, MANIFEST_FORMAT, manifest_doc

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; changes stay atomic, concurrent edits may race
    fcntl = None  # type: ignore[assignment]

Entries = dict[str, dict[str, Any]]
R = TypeVar("R")
KEEP = "keep"  # the tag that protects a checkpoint from retention and gives it a backup


@contextmanager
def manifest_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` itself (no lock file is left behind)."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_manifest(folder: Path, entries: Entries, run: dict[str, Any] | None = None) -> None:
    """Replace the entries; the run section is read and kept unless `run` is given ({}: none)."""
    check_entry_names(entries, folder / MANIFEST)  # never write what the reader would refuse
    if run is None:
        run = (manifest_doc(folder) or {}).get("run")
    doc = {"format": MANIFEST_FORMAT, "version": 1, **({"run": run} if run else {}), "checkpoints": entries}
    atomic_write_text(folder / MANIFEST, json.dumps(doc, indent=2, sort_keys=False) + "\n")


def edit_entries(folder: Path, change: Callable[[Entries], R], run: dict[str, Any] | None = None) -> R:
    """Apply `change` to the entries (in place) under the folder lock and write them back when
    they changed (or `run` is given). A manifest.json NodeFlow did not write is never replaced.
    While entries remain, one is flagged is_latest (every deleter comes through here)."""
    with manifest_lock(folder):
        doc = manifest_doc(folder)
        entries = read_entries(folder, doc or {})
        before = json.dumps(entries, sort_keys=True, default=str)
        result = change(entries)
        mark_latest(entries)  # a deleted latest hands its flag to the newest file left
        if run is not None or json.dumps(entries, sort_keys=True, default=str) != before:
            if doc is None and (folder / MANIFEST).exists():
                raise CheckpointError(Issue("manifest.json here was not written by NodeFlow; not replaced",
                                            file=str(folder / MANIFEST)))
            write_manifest(folder, entries, (doc or {}).get("run") or {} if run is None else run)
    return result


def check_tags(tags: Any, what: str = "tags") -> list[str]:
    """Tags as a list of non-empty strings without commas; anything else is one line naming the bad tag."""
    if tags is None:
        return []
    if isinstance(tags, str) or not isinstance(tags, (list, tuple, set, frozenset)):
        raise CheckpointError(Issue(f"{what} must be a list of strings, got {type(tags).__name__} {tags!r}"))
    for tag in tags:
        if not isinstance(tag, str):
            raise CheckpointError(Issue(f"{what}: every tag must be a string, got {type(tag).__name__} {tag!r}"))
        if not tag.strip() or "," in tag or len(tag) > 64:
            raise CheckpointError(Issue(f"{what}: {tag!r} is not a tag (1-64 characters, no commas)"))
    return list(dict.fromkeys(t.strip() for t in tags))


def set_tags(folder: Path, name: str, add: Any = (), remove: Any = (), description: str | None = None) -> dict:
    """Add/remove tags and set the description of `name`'s entry; returns the updated entry."""
    add, remove = check_tags(list(add)), check_tags(list(remove))
    if description is not None and not isinstance(description, str):
        raise CheckpointError(Issue(f"description must be a string, got {type(description).__name__}"))

    def change(entries: Entries) -> dict:
        entry = entries.get(name)
        if entry is None:
            raise CheckpointError(Issue("no manifest entry for this checkpoint (NodeFlow did not write it)",
                                        file=str(folder / name)))
        tags = [t for t in entry.get("tags") or [] if t not in remove]
        entry["tags"] = tags + [t for t in add if t not in tags]
        if description is not None:
            entry["description"] = description
        return dict(entry)

    return edit_entries(folder, change)
