"""Resuming: which checkpoint a run continues from, and what changed since it was saved.

The newest file whose manifest entry verifies (or its verified backup); a file that fails is
set aside as NAME.corrupt. Putting the saved state back into a training loop is the loop's own
load_state_dict (nodeflow.training.loop_state).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.manifest import KIND_RANK, edit_entries, read_entries, usable_file
from nodeflow.checkpoints.folder_names import inside


def newest_valid(folder: Path, which: str = "auto") -> tuple[Path | None, list[tuple[str, str]]]:
    """The newest checkpoint whose manifest entry verifies (`which`: auto | best).

    Returns the path (or None) and the (file, reason) pairs that were skipped.
    """
    entries = read_entries(folder)
    ranked = sorted(entries.items(), key=lambda item: (item[1].get("step", -1), item[1].get("epoch", -1),
                                                       KIND_RANK.get(str(item[1].get("kind")), -1)), reverse=True)
    skipped: list[tuple[str, str]] = []
    for name, entry in ranked:
        if which == "best" and not entry.get("is_best"):
            continue
        source, problem = usable_file(folder / name, entry)
        if source is not None:  # the file, or its verified backup (loading says which)
            return folder / name, skipped
        skipped.append((name, problem or "does not verify"))
    return None, skipped


def set_aside(folder: Path, name: str) -> Path | None:
    """Rename a file that failed verification to NAME.corrupt and drop its manifest entry."""
    path = inside(folder, name)
    target = path.with_name(name + ".corrupt") if path.is_file() else None
    if target is not None:
        os.replace(path, target)
    edit_entries(folder, lambda entries: entries.pop(name, None))
    return target


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Human lines for every value that differs between two saved configs."""
    lines: list[str] = []
    for key in sorted(set(old) | set(new)):
        if key in ("resume",):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            lines.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return lines
