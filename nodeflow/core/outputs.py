"""Who wrote a file: the rule every NodeFlow writer follows before it replaces anything.

NodeFlow never replaces a file it did not write unless the user said so for that path.
- A single output file (Predict's CSV, `ckpt export`, `ckpt plot`) is NodeFlow's when
  its folder's `.nodeflow-outputs.json` lists it with the same size and SHA-256, so a
  file we wrote and the user later edited counts as theirs again.
Standard library only: validation, the editor and the writers all use it.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from nodeflow.core.files import atomic_write, atomic_write_text, not_a_file, sha256_of

RECORD = ".nodeflow-outputs.json"
RECORD_FORMAT = "nodeflow.outputs"


def read_json(path: Path, limit: int | None = None) -> Any:
    """The parsed file, or None when it is absent, unreadable, not JSON, nested too deeply or
    (with `limit`) larger than `limit` bytes."""
    try:
        if limit is not None and path.stat().st_size > limit:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def _record(folder: Path) -> dict[str, Any] | None:
    """The folder's output record: {} when there is none, None when the name is taken by a foreign file."""
    path = folder / RECORD
    if not path.exists():
        return {}
    doc = read_json(path)
    if isinstance(doc, dict) and doc.get("format") == RECORD_FORMAT and isinstance(doc.get("files"), dict):
        return doc["files"]
    return None


def owned(path: Path) -> bool:
    """True when NodeFlow wrote `path` and nobody changed it since."""
    entry = (_record(path.parent) or {}).get(path.name)
    if not isinstance(entry, dict) or not path.is_file():
        return False
    return path.stat().st_size == entry.get("size") and sha256_of(path) == entry.get("sha256")


def output_problem(path: Path, overwrite: bool = False, hint: str = "set overwrite to replace it") -> str | None:
    """Why writing `path` would destroy a file NodeFlow did not write; None when it is safe.
    A device, FIFO or socket there is never replaced, even with `overwrite`."""
    special = not_a_file(path)
    if special and special != "a folder":
        return f"{path} is {special}, not a regular file; choose another path"
    if overwrite or not path.exists() or path.is_dir() or owned(path):
        return None
    return f"{path} exists and NodeFlow did not write it; {hint}, or choose another path"


def write_output(path: Path, write: Callable[[BinaryIO], object], writer: str) -> None:
    """Write `path` atomically and record it as NodeFlow's (the caller checked output_problem).
    Under torchrun only rank 0 writes: every rank computed the same output."""
    if os.environ.get("RANK", "0") != "0":
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)
    files = _record(path.parent)
    if files is None:
        return  # a foreign file holds the record's name: leave it; the output just stays unrecorded
    files[path.name] = {"size": path.stat().st_size, "sha256": sha256_of(path), "writer": writer,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    doc = {"format": RECORD_FORMAT, "version": 1, "files": files}
    atomic_write_text(path.parent / RECORD, json.dumps(doc, indent=2) + "\n")


def write_output_text(path: Path, text: str, writer: str) -> None:
    write_output(path, lambda handle: handle.write(text.encode("utf-8")), writer)
