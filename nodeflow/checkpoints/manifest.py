"""The checkpoint table of a folder, from its manifest (JSON) alone: `ckpt list` and the editor's panel.

Standard library only, so the editor lists checkpoints in its own process without torch
and without starting a child per refresh. A full check (`full=True`) hashes each file;
the panel's quick listing compares sizes and leaves the SHA-256 to Verify.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nodeflow.core.files import sha256_of
from nodeflow.core.outputs import manifest_doc

COLUMNS = ("file", "kind", "epoch", "step", "monitored", "size", "best", "final", "tags", "verified")
BACKUPS = "backups"  # second copies of best, final and `keep` files (nodeflow.core.backups)
PATTERNS = tuple(stem + end for stem in ("*.pt", "*.pth") for end in ("", ".gz", ".zst"))  # plain and compressed
KIND_RANK = {"periodic": 0, "best": 1, "final": 2, "latest": 3, "interrupt": 4}


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
                   key=lambda n: (entries.get(n, {}).get("step", -1), KIND_RANK.get(entries.get(n, {}).get("kind"), 9),
                                  n))
    return [(n, entries.get(n), problem_text(folder / n, entries.get(n), full)) for n in names]


def problem_text(path: Path, entry: dict[str, Any] | None, full: bool = True) -> str | None:
    """Why `path` does not verify (saying so when its backup does), or None."""
    source, problem = usable_file(path, entry, full)
    if problem and source is not None:
        problem += "; its backup verifies (ckpt restore-backup puts it back)"
    return problem


def backup_path(path: Path) -> Path:
    return path.parent / BACKUPS / path.name


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
                     KIND_RANK.get(entries[n].get("kind"), 9), n)
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
