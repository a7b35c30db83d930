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

COLUMNS = ("file", "kind", "epoch", "step", "monitored", "size", "best", "final", "verified")
KIND_RANK = {"periodic": 0, "best": 1, "final": 2, "interrupt": 3}


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
    names = sorted({p.name for p in folder.glob("*.pt")} | set(entries),
                   key=lambda n: (entries.get(n, {}).get("step", -1), KIND_RANK.get(entries.get(n, {}).get("kind"), 9),
                                  n))
    return [(n, entries.get(n), verify_file(folder / n, entries.get(n), full)) for n in names]


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
                              "✓" if e.get("is_final") else "", ok if problem is None else f"✗ {problem}"),
                    strict=True))
