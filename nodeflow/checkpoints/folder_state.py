"""Whose run a checkpoint folder holds: its manifest.json (read with every check), the run's id,
the files a run would meet there, and the one line that says so when a run may not start there.

A checkpoint folder is NodeFlow's when it holds our `manifest.json` (format tag
`nodeflow.checkpoints`); the manifest's `run` section names the run that owns it. Files a
run would write into a folder without our manifest are foreign. Standard library only.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.folder_names import check_manifest
from nodeflow.checkpoints.manifest_fields import MAX_MANIFEST, check_fields
from nodeflow.core.outputs import read_json

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "nodeflow.checkpoints"


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
    entries: dict[str, Any] = doc["checkpoints"] if isinstance(doc.get("checkpoints"), dict) else {}
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
