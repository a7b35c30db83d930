"""Exporting a verified checkpoint: `nodeflow ckpt export` and CheckpointManager.export_checkpoint."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from nodeflow.core.ckpt_table import read_entries
from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.outputs import output_problem, write_output, write_output_text
from nodeflow.training.checkpoint import load_checkpoint


def export_file(source: Path, dest: Path, format: str = "torch", force: bool = False) -> Path:
    """Copy a verified checkpoint to `dest` (safetensors: weights only) with its manifest entry as DEST.json.

    Replaces a file there only when NodeFlow wrote it, unless `force`."""
    sidecar = dest.with_name(dest.name + ".json")
    for target in (dest, sidecar):
        problem = output_problem(target, force, "--force replaces it")
        if problem:
            raise CheckpointError(Issue(problem))
    data = load_checkpoint(source)  # refuses a file that does not match its manifest entry
    entry = read_entries(source.parent).get(source.name)
    if format == "safetensors":
        from safetensors.torch import save

        weights = {k: v.contiguous() for k, v in data["model_state_dict"].items()}
        meta = {"epoch": str(data.get("epoch")), "config": json.dumps(data.get("config") or {}, default=str)}
        blob = save(weights, metadata=meta)
        write_output(dest, lambda handle: handle.write(blob), "ckpt export")
    else:
        with source.open("rb") as handle:
            write_output(dest, lambda out: shutil.copyfileobj(handle, out), "ckpt export")
    write_output_text(sidecar, json.dumps(entry or {}, indent=2) + "\n", "ckpt export")
    return dest
