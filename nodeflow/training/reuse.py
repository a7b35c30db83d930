"""A Trainer unchanged since its last run: its model comes back from that run's final checkpoint,
verified against the folder's manifest, instead of being trained again (the Trainer's `reuse` hook).

The final file (final_model.pt; latest.pt in the experiments layout) holds exactly the weights
the Trainer handed downstream, so Evaluate, Predict and Generate see the same model. The best
file would not: it may come from an earlier epoch.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.manifest import read_entries, verify_file
from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.spec import RunContext
from nodeflow.training import distributed
from nodeflow.checkpoints.torch_files import load_checkpoint, load_model_state
from nodeflow.training.device import resolve_device


def shown(path: Path) -> str:
    """`path` relative to the current folder when it lies inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative


def note(params: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
    """After training: the final checkpoint and its SHA-256 from the manifest ({} when none was saved)."""
    path = getattr(outputs.get("model"), "nodeflow_checkpoint", None)
    if not path:
        return {}
    path = Path(path).absolute()
    entry = read_entries(path.parent).get(path.name) or {}
    return {"from": str(path), "what": "model", "sha256": entry.get("checksum")}


def problem(saved: Mapping[str, Any]) -> str | None:
    """Why the final checkpoint of the last run cannot stand for training again, or None."""
    if not saved.get("from"):
        return "its last run saved no checkpoint to reuse (checkpoint_dir is empty)"
    path = Path(saved["from"])
    entry = read_entries(path.parent).get(path.name) if path.parent.is_dir() else None
    wrong = verify_file(path, entry)
    if wrong:
        return f"its checkpoint {shown(path)} cannot be reused: {wrong}"
    assert entry is not None  # verify_file says so otherwise
    if entry.get("checksum") != saved.get("sha256"):
        return f"its checkpoint {shown(path)} was replaced by another run"
    return None


def load(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any],
         saved: Mapping[str, Any]) -> dict[str, Any]:
    """The linked model with the final checkpoint's weights, on the device training would use."""
    path = Path(saved.get("from") or "")
    entry = read_entries(path.parent).get(path.name) if path.parent.is_dir() else None
    if not saved.get("from") or entry is None or entry.get("checksum") != saved.get("sha256"):
        raise CheckpointError(Issue("not the checkpoint its last run wrote", file=str(path)))
    checkpoint = load_checkpoint(path)  # checked against the manifest's size and SHA-256 again
    model = inputs["model"]
    load_model_state(model, checkpoint, str(path), "the linked model")  # a trained adapter: over the same base
    model.to(distributed.local_device(resolve_device(ctx.device_override or params["device"])))
    model.nodeflow_data = inputs["train"].describe()  # what Evaluate, Predict and Generate check against
    model.nodeflow_batch_size = params["batch_size"]  # what Evaluate and Predict score at by default
    model.nodeflow_checkpoint = str(path)
    return {"model": model}
