"""What a reused Trainer shows on the canvas: the result of the training it stands for.

A Trainer unchanged since its last run is not trained again (its final checkpoint comes back);
its result is the one that training showed (final metrics, best value, checkpoint folder): from
this editor's memory of the training, else from the run index, the record of every run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nodeflow.runs import load_runs

KEPT = ("folder", "last", "best")  # the parts of a Trainer's result that describe its training


def _absolute(folder: str, run_dir: Path) -> Path:
    path = Path(folder).expanduser()
    return (path if path.is_absolute() else run_dir / path).resolve()


def trained_entry(entry: dict[str, Any], run_dir: Path) -> dict[str, dict[str, Any]]:
    """{absolute checkpoint folder: the result's training parts} for a Trainer's result entry ({} without a folder)."""
    if not entry.get("folder"):
        return {}
    return {str(_absolute(entry["folder"], run_dir)): {k: entry[k] for k in KEPT if k in entry}}


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def reused_result(trained: dict[str, dict[str, Any]], node: str, checkpoint: str,
                  run_dir: Path) -> dict[str, Any] | None:
    """The result of the training whose final `checkpoint` the reused Trainer `node` loads: the one
    this editor saw (in `trained`), else the newest recorded run of `node` that saved into that folder."""
    path = _absolute(checkpoint, run_dir)
    seen = [folder for folder in trained if _under(path, Path(folder))]
    if seen:
        return dict(trained[max(seen, key=len)])
    for record in reversed(load_runs()):
        folder = (record.get("checkpoints") or {}).get(node)
        metrics = (record.get("metrics") or {}).get(node)
        if isinstance(folder, str) and isinstance(metrics, dict) and _under(path, _absolute(folder, run_dir)):
            last = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
            return {"folder": _shown(folder, run_dir), "last": last}
    return {"folder": _shown(str(path.parent), run_dir)}


def _shown(folder: str, run_dir: Path) -> str:
    """`folder` relative to the folder runs execute in when it lies inside it."""
    path = _absolute(folder, run_dir)
    root = run_dir.resolve()
    return str(path.relative_to(root)) if _under(path, root) else str(path)
