"""manifest.json beside the checkpoints: one verified entry per checkpoint file.

A checkpoint counts as committed once its entry is in the manifest. Entries carry the
fields of the CheckpointManager API's CheckpointMetadata (id, timestamp, epoch, step,
model and experiment name, size, SHA-256, metrics, config, tags, description, is_best,
is_latest) plus is_final, kind, the workflow hash, and the torch/Python versions.
"""
from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from nodeflow.core.backups import remove_backup
from nodeflow.core.ckpt_table import read_entries as read_manifest
from nodeflow.core.ckpt_table import verify_file
from nodeflow.core.files import sha256_of
from nodeflow.core.folder_names import inside
from nodeflow.core.manifest_edit import KEEP, Entries, edit_entries, write_manifest

__all__ = ["read_manifest", "verify_file", "write_manifest", "start_run", "make_entry", "commit_entry",
           "prune_periodic", "remove_checkpoints", "sha256_of"]


def start_run(folder: Path, run: dict[str, Any]) -> None:
    """Claim `folder` for a run before anything else is written there (the manifest marks it ours)."""
    edit_entries(folder, lambda entries: None, run)


def make_entry(path: Path, payload: dict[str, Any], kind: str, info: dict[str, Any],
               checksum: str | None = None) -> dict[str, Any]:
    """The manifest entry for a checkpoint file just written from `payload` (`checksum`: its
    SHA-256 when the writer hashed it already, else the file is read to hash it)."""
    config = payload.get("config") or {}
    model = config.get("model") or {}
    return {
        "checkpoint_id": f"{path.name.split('.')[0]}-{payload['step']}",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "kind": kind,
        "epoch": payload["epoch"],
        "step": payload["step"],
        "batch_in_epoch": payload.get("batch_in_epoch", 0),
        "model_name": model.get("type", ""),
        "experiment_name": info.get("experiment", ""),
        "file_size": path.stat().st_size,
        "checksum": checksum or sha256_of(path),
        "monitor": payload.get("monitor"),
        "monitor_value": (payload.get("metrics") or {}).get(payload.get("monitor") or ""),
        "metrics": dict(payload.get("metrics") or {}),
        "config": config,
        "workflow_hash": info.get("workflow_hash", ""),
        "run_id": info.get("run_id", ""),
        "workflow": payload.get("workflow", ""),
        "tags": [],
        "description": "",
        "is_best": kind == "best",
        "is_latest": True,
        "is_final": kind == "final",
        "device": info.get("device", ""),
        "world_size": 1,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }


def commit_entry(folder: Path, name: str, entry: dict[str, Any]) -> None:
    """Add or replace `name`'s entry and mark it the only latest one (and the only best one when it is best)."""
    def change(entries: Entries) -> None:
        for other in entries.values():
            other["is_latest"] = False
            if entry.get("is_best"):
                other["is_best"] = False
        entries[name] = entry

    edit_entries(folder, change)


def prune_periodic(folder: Path, keep: int, run_id: str = "") -> list[str]:
    """Delete all but the newest `keep` periodic checkpoints (never best, final, interrupt,
    the current best, or a file tagged `keep`).

    With `run_id`, only that run's files count (entries saved before run ids count as the
    folder's run). Their manifest entries go first, so a crash midway never leaves an
    entry without its file.
    """
    def doomed(entries: Entries) -> list[str]:
        periodic = sorted((e.get("step", 0), e.get("epoch", 0), n) for n, e in entries.items()
                          if e.get("kind") == "periodic" and not e.get("is_best") and KEEP not in (e.get("tags") or [])
                          and (not run_id or e.get("run_id", run_id) in (run_id, "")))
        names = [name for *_, name in periodic[:max(0, len(periodic) - keep)]]
        for name in names:
            del entries[name]
        return names

    names = edit_entries(folder, doomed)
    _unlink(folder, names)
    return names


def remove_checkpoints(folder: Path, names: list[str]) -> None:
    """Delete checkpoint files and their backups: their manifest entries first, so no entry ever outlives its file."""
    for name in names:
        inside(folder, name)
    edit_entries(folder, lambda entries: [entries.pop(n, None) for n in names])
    _unlink(folder, names)


def _unlink(folder: Path, names: list[str]) -> None:
    for path in [inside(folder, name) for name in names]:  # all checked before any is deleted
        path.unlink(missing_ok=True)
        remove_backup(path)
