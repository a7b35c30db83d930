"""Who wrote a file: the rule every NodeFlow writer follows before it replaces anything.

NodeFlow never replaces a file it did not write unless the user said so for that path.
- A checkpoint folder is NodeFlow's when it holds our `manifest.json` (format tag
  `nodeflow.checkpoints`); the manifest's `run` section names the run that owns it.
  Files a run would write into a folder without our manifest are foreign.
- A single output file (Predict's CSV, `ckpt export`, `ckpt plot`) is NodeFlow's when
  its folder's `.nodeflow-outputs.json` lists it with the same size and SHA-256, so a
  file we wrote and the user later edited counts as theirs again.
Standard library only: validation, the editor and the writers all use it.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, BinaryIO

from nodeflow.core.files import atomic_write, atomic_write_text, not_a_file, sha256_of
from nodeflow.core.folder_names import check_manifest
from nodeflow.core.manifest_fields import MAX_MANIFEST, check_fields

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "nodeflow.checkpoints"
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


def manifest_doc(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest when NodeFlow wrote it, else None (absent, corrupt, another tool's).

    Every read of a manifest comes here: one whose entries name anything but plain file
    names in this folder, or a field of the wrong type, is refused (CheckpointError naming the
    entry and field); one larger than MAX_MANIFEST is not read (None)."""
    doc = read_json(folder / MANIFEST, MAX_MANIFEST)
    if not (isinstance(doc, dict) and doc.get("format") == MANIFEST_FORMAT):
        return None
    check_manifest(doc, folder / MANIFEST)
    check_fields(doc, folder / MANIFEST)
    return doc


def run_id_of(doc: dict[str, Any]) -> str:
    """The id of the run a manifest belongs to; manifests from before run ids get one from their oldest entry."""
    run = doc.get("run")
    if isinstance(run, dict) and isinstance(run.get("id"), str) and run["id"]:
        return run["id"]
    entries = doc.get("checkpoints") if isinstance(doc.get("checkpoints"), dict) else {}
    stamps = sorted(str(e.get("timestamp", "")) for e in entries.values() if isinstance(e, dict))
    stamp = stamps[0] if stamps and stamps[0] else "unknown"
    return "run-" + "".join(c for c in stamp if c.isalnum())[:15]


@dataclass(frozen=True)
class FolderState:
    """What a run would meet in its checkpoint folder."""

    run_id: str | None  # the run whose manifest the folder holds, if any
    checkpoints: int  # checkpoint files that run's manifest lists
    foreign: tuple[str, ...]  # names a run would write there that NodeFlow did not write


def folder_state(folder: Path, patterns: Sequence[str], manifest_folder: Path | None = None) -> FolderState:
    """Inspect `folder` for a run's files (`patterns`: the names a run writes, globs allowed;
    `manifest_folder`: where that run keeps its manifest, when not in `folder` itself)."""
    if not folder.is_dir():
        return FolderState(None, 0, ())
    doc = manifest_doc(manifest_folder or folder)
    if doc is not None:
        entries = doc.get("checkpoints")
        return FolderState(run_id_of(doc), len(entries) if isinstance(entries, dict) else 0, ())
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
                   if any(fnmatch(p.name, pattern) for pattern in patterns))
    return FolderState(None, 0, tuple(names))


def next_free(path: Path) -> Path:
    """`path` itself when it does not exist, else `path_2`, `path_3`, …"""
    if path.name in ("", ".", ".."):
        path = path.resolve()  # "." holds the run: suggest a sibling of the current folder
    n = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.name}_{n}")
        n += 1
    return candidate


def continues_run(resume: str, folder: Path) -> bool:
    """Whether a Trainer's `resume` value continues the run in `folder` (rather than starting one there)."""
    if resume in ("auto", "best"):
        return True
    path = Path(os.path.expanduser(resume))
    return bool(resume) and (path if path.is_absolute() else Path.cwd() / path).resolve().parent == folder.resolve()


def name_run(template: str, newest: bool = False) -> str:
    """Fill a path's {run} with run_1, run_2, …: the first that does not exist, or with
    `newest` the last that does (run_1 when none does)."""
    def named(n: int) -> str:
        return template.replace("{run}", f"run_{n}")

    n = 1
    while "{run}" in template and Path(os.path.expanduser(named(n))).exists():
        n += 1
    return named(n - 1 if newest and n > 1 else n)


def conflict_summary(folder: Path, state: FolderState) -> str:
    """What is in the way in `folder`."""
    if state.run_id is not None:
        return f"{folder} already holds run {state.run_id} ({state.checkpoints} checkpoint(s))"
    shown = ", ".join(state.foreign[:6]) + (", …" if len(state.foreign) > 6 else "")
    return f"{folder} holds files NodeFlow did not write and a run would replace: {shown}"


def conflict_message(folder: Path, state: FolderState) -> str:
    """One line: what is in the way in `folder` and the ways on."""
    new = next_free(folder)
    if state.run_id is not None:
        ways = (f"Continue it with resume=auto (--resume auto), use a new folder (e.g. {new}, or a {{run}} or "
                f"{{timestamp}} placeholder), or --overwrite to move its files to "
                f"{folder / 'previous' / state.run_id}/")
    else:
        ways = f"Use a new folder (e.g. {new}) or --overwrite to move them to {folder / 'previous'}/"
    return f"{conflict_summary(folder, state)}; nothing was written. {ways}"


# --- single output files --------------------------------------------------------------------

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


def write_output(path: Path, write: Callable[[BinaryIO], None], writer: str) -> None:
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
