"""manifest.json beside the checkpoints: reading, verifying, listing and changing its entries.

One entry per checkpoint file; a checkpoint counts as committed once its entry is in the
manifest. Entries carry the fields of the CheckpointManager API's CheckpointMetadata (id,
timestamp, epoch, step, model and experiment name, size, SHA-256, metrics, config, tags,
description, is_best, is_latest) plus is_final, kind, the workflow hash, and the torch/Python
versions.

Reading needs only the manifest (JSON): `ckpt list` and the editor's panel list checkpoints
without torch and without a child process; a full check (`full=True`) hashes each file, the
panel's quick listing compares sizes and leaves the SHA-256 to Verify. Every change reads,
edits and writes the whole file under an exclusive lock on the folder and lands as one atomic
replace, so a Trainer committing an entry and the editor editing a tag never lose each
other's change. Standard library only.
"""
from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.files import atomic_write_text, sha256_of
from nodeflow.checkpoints.folder_names import check_entry_names, inside
from nodeflow.checkpoints.folder_state import MANIFEST, MANIFEST_FORMAT, manifest_doc

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; changes stay atomic, concurrent edits may race
    fcntl = None  # type: ignore[assignment]

COLUMNS = ("file", "kind", "epoch", "step", "monitored", "size", "best", "final", "tags", "verified")
BACKUPS = "backups"  # second copies of best, final and `keep` files (nodeflow.checkpoints.backups)
PATTERNS = tuple(stem + end for stem in ("*.pt", "*.pth") for end in ("", ".gz", ".zst"))  # plain and compressed
# At one step the files hold one state: the clearest name ranks last. The best file ranks below the periodic
# one, so a resume tries the periodic file first and sets it aside when it is damaged.
KIND_RANK = {"best": 0, "periodic": 1, "final": 2, "latest": 3, "interrupt": 4}


def read_entries(folder: Path, doc: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Manifest entries by file name (from `doc` when the caller has read it already); an absent,
    unreadable or foreign manifest gives none."""
    entries = (doc if doc is not None else manifest_doc(folder) or {}).get("checkpoints")
    return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}


def verify_file(path: Path, entry: dict[str, Any] | None, full: bool = True) -> str | None:
    """Why `path` does not match its manifest entry, or None when it does."""
    if not path.is_file():
        return "file is missing"
    if entry is None:
        return "no manifest entry (written by another tool, or its save never finished)"
    size = path.stat().st_size
    if size != entry.get("file_size"):
        return f"size {size} bytes, manifest says {entry.get('file_size')} (truncated or replaced)"
    if full and sha256_of(path) != entry.get("checksum"):
        return "SHA-256 does not match the manifest (corrupted)"
    return None


def rows(folder: Path, full: bool = True) -> list[tuple[str, dict[str, Any] | None, str | None]]:
    """(file, manifest entry, problem) for every checkpoint file or entry, in training order."""
    entries = read_entries(folder)
    names = sorted({p.name for pattern in PATTERNS for p in folder.glob(pattern)} | set(entries),
                   key=lambda n: (entries.get(n, {}).get("step", -1),
                                  KIND_RANK.get(str(entries.get(n, {}).get("kind")), 9), n))
    return [(n, entries.get(n), problem_text(folder / n, entries.get(n), full)) for n in names]


def problem_text(path: Path, entry: dict[str, Any] | None, full: bool = True) -> str | None:
    """Why `path` does not verify (saying so when its backup does), or None."""
    source, problem = usable_file(path, entry, full)
    if problem and source is not None:
        problem += "; its backup verifies (ckpt restore-backup puts it back)"
    return problem


def backup_path(path: Path) -> Path:
    return path.parent / BACKUPS / path.name


def remove_backup(path: Path) -> None:
    """Delete `path`'s backup if there is one; one that cannot be deleted (read-only backups/) stays, harmlessly."""
    backup = inside(path.parent, Path(BACKUPS) / path.name)
    try:
        if backup.exists():
            backup.unlink()
    except OSError:
        pass


def usable_file(path: Path, entry: dict[str, Any] | None, full: bool = True) -> tuple[Path | None, str | None]:
    """(file to read, problem with the main file): the main file when it verifies, else a
    backup that matches the same entry, else None."""
    problem = verify_file(path, entry, full)
    if problem is None:
        return path, None
    backup = backup_path(path)
    if entry is not None and backup.is_file() and verify_file(backup, entry, full) is None:
        return backup, problem
    return None, problem


def size_text(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1024:.0f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"


def value_text(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else "-" if v is None else str(v)


def cells(name: str, entry: dict[str, Any] | None, problem: str | None, full: bool = True) -> dict[str, str]:
    """One row of the table, as text by column."""
    e = entry or {}
    monitored = f"{e['monitor']}={value_text(e.get('monitor_value'))}" if e.get("monitor") else "-"
    ok = "✓" if full else "✓ size"  # the SHA-256 is checked by Verify
    return dict(zip(COLUMNS, (name, e.get("kind", "?"), value_text(e.get("epoch")), value_text(e.get("step")),
                              monitored, size_text(e.get("file_size")), "✓" if e.get("is_best") else "",
                              "✓" if e.get("is_final") else "", ", ".join(e.get("tags") or []),
                              ok if problem is None else f"✗ {problem}"),
                    strict=True))


def newest(entries: dict[str, dict[str, Any]]) -> str | None:
    """The most recently written entry's file name (by timestamp, then step, then kind)."""
    key = lambda n: (str(entries[n].get("timestamp", "")), entries[n].get("step", -1),  # noqa: E731
                     KIND_RANK.get(str(entries[n].get("kind")), 9), n)
    return max(entries, key=key) if entries else None


def mark_latest(entries: dict[str, dict[str, Any]]) -> None:
    """Keep one entry flagged is_latest while any remain: when the latest was deleted, the newest left."""
    if entries and not any(e.get("is_latest") for e in entries.values()):
        entries[newest(entries)]["is_latest"] = True  # type: ignore[index]


def latest(entries: dict[str, dict[str, Any]]) -> str | None:
    """The latest checkpoint's file name: the entry flagged is_latest, else the newest."""
    return next((n for n, e in entries.items() if e.get("is_latest")), None) or newest(entries)


def summary(entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The CheckpointManager API's get_checkpoint_summary(): count, total MB, best (id, metric), latest,
    oldest/newest time."""
    named = sorted(entries.items(), key=lambda item: (str(item[1].get("timestamp", "")), item[1].get("step", -1)))
    best = next((e for _, e in reversed(named) if e.get("is_best")), None)
    last = entries.get(latest(entries) or "")
    stamps = [str(e.get("timestamp")) for _, e in named if e.get("timestamp")]
    return {
        "total_checkpoints": len(entries),
        "total_size_mb": sum(int(e.get("file_size") or 0) for e in entries.values()) / (1 << 20),
        "best_checkpoint": best.get("checkpoint_id") if best else None,
        "best_metric": {best["monitor"]: best.get("monitor_value")} if best and best.get("monitor") else None,
        "latest_checkpoint": last.get("checkpoint_id") if last else None,
        "oldest": stamps[0] if stamps else None,
        "newest": stamps[-1] if stamps else None,
    }


def summary_line(entries: dict[str, dict[str, Any]]) -> str:
    """The summary as one line (CLI, editor panel)."""
    s = summary(entries)
    if not s["total_checkpoints"]:
        return "no checkpoints"
    best = ", ".join(f"{k}={value_text(v)}" for k, v in (s["best_metric"] or {}).items())
    return (f"{s['total_checkpoints']} checkpoint(s), {s['total_size_mb']:.2f} MB; "
            f"best {s['best_checkpoint'] or '-'}{f' ({best})' if best else ''}; latest {s['latest_checkpoint']}; "
            f"{s['oldest']} … {s['newest']}")


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
    inside(folder, MANIFEST)  # nor replace a link with it
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
        "torch_version": _torch_version(),
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


def prune_periodic(folder: Path, keep: int, run_id: str = "", best_by: str = "") -> list[str]:
    """Keep `keep` periodic checkpoints: a periodic file marked best (the checkpoint API's, whose
    best has no file of its own) counts among them and stays, the newest others fill the rest, and
    `keep` ≥ 1 keeps one of them at least (the file just saved). Never deleted: best, final and
    interrupt files, and files tagged `keep` (not counted). With `best_by` ("min" or "max") the
    others kept are those with the best monitored value instead (top-k; a file without a value
    ranks last).

    With `run_id`, only that run's files count (entries saved before run ids count as the
    folder's run). Their manifest entries go first, so a crash midway never leaves an
    entry without its file; every file and backup is checked before anything changes.
    """
    def doomed(entries: Entries) -> list[str]:
        counted = [(n, e) for n, e in entries.items() if e.get("kind") == "periodic"
                   and KEEP not in (e.get("tags") or []) and (not run_id or e.get("run_id", run_id) in (run_id, ""))]
        periodic = sorted((_rank(e, best_by), e.get("step", 0), e.get("epoch", 0), n) for n, e in counted
                          if not e.get("is_best"))
        others = max(keep - (len(counted) - len(periodic)), min(keep, 1))
        names = [name for *_, name in periodic[:max(0, len(periodic) - others)]]
        check_targets(folder, names)
        for name in names:
            del entries[name]
        return names

    names = edit_entries(folder, doomed)
    _unlink(folder, names)
    return names


def _rank(entry: Mapping[str, Any], best_by: str) -> float:
    """Sort key putting the files to delete first: the worst monitored value (top-k), else 0 (by age)."""
    value = entry.get("monitor_value")
    if not best_by:
        return 0.0
    if not isinstance(value, int | float) or not math.isfinite(value):
        return -math.inf
    return -value if best_by == "min" else value


def remove_checkpoints(folder: Path, names: list[str]) -> None:
    """Delete checkpoint files and their backups: their manifest entries first, so no entry ever outlives its file."""
    check_targets(folder, names)
    edit_entries(folder, lambda entries: [entries.pop(n, None) for n in names])
    _unlink(folder, names)


def check_targets(folder: Path, names: list[str]) -> None:
    """Check every file and backup a delete of `names` would touch (none outside `folder`, none
    through a link) before anything changes, so the manifest and the folder never disagree."""
    for name in names:
        inside(folder, name)
        inside(folder, Path(BACKUPS) / name)


def _unlink(folder: Path, names: list[str]) -> None:
    for path in [inside(folder, name) for name in names]:  # all checked before any is deleted
        path.unlink(missing_ok=True)
        remove_backup(path)


def _torch_version() -> str:
    """The torch that wrote the file (loaded by then: only a save makes an entry)."""
    import torch

    return torch.__version__
