"""The type of every field of a checkpoint manifest, checked when it is read.

manifest.json is a file anyone can edit. Listing, verifying, resuming, pruning and the
editor's panel all read its entries' fields (`step` to sort, `file_size` to verify, `tags`
to filter), so the manifest reader (nodeflow.checkpoints.folder_state.manifest_doc) refuses a manifest
with one line naming the entry and field whose value has the wrong type, before anything
uses it. A field that is absent is not checked (older manifests lack some). Standard
library only.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.printable import shown

MAX_MANIFEST = 64 << 20  # bytes: tens of thousands of entries; a larger manifest.json is not ours
BIG = 1 << 62


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= BIG


def _number(value: Any) -> bool:
    """A float (NaN and inf too: a diverged run's loss, shown as such) or an int of sane size."""
    return isinstance(value, float) or isinstance(value, int) and not isinstance(value, bool) and abs(value) <= BIG


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


def _tags(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(t, str) for t in value)


def _or_none(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or test(value)


COUNT, TEXT = (_count, "a whole number from 0"), (_text, "a string")
ENTRY: dict[str, tuple[Callable[[Any], bool], str]] = {
    "checkpoint_id": TEXT, "timestamp": TEXT, "kind": TEXT, "model_name": TEXT, "experiment_name": TEXT,
    "checksum": TEXT, "workflow_hash": TEXT, "run_id": TEXT, "workflow": TEXT, "description": TEXT,
    "device": TEXT, "torch_version": TEXT, "python_version": TEXT,
    "epoch": COUNT, "step": COUNT, "batch_in_epoch": COUNT, "file_size": COUNT,
    "world_size": (lambda v: _count(v) and v >= 1, "a whole number from 1"),
    "monitor": (_or_none(_text), "a string or null"),
    "monitor_value": (_or_none(_number), "a number or null"),
    "metrics": (_dict, "an object of metric name -> value"),
    "config": (_dict, "an object"),
    "tags": (_tags, "a list of strings"),
    "is_best": (_flag, "true or false"), "is_latest": (_flag, "true or false"), "is_final": (_flag, "true or false"),
}
RUN: dict[str, tuple[Callable[[Any], bool], str]] = {"id": TEXT, "started": TEXT, "workflow_hash": TEXT}



def check_fields(doc: dict[str, Any], manifest: Path) -> None:
    """CheckpointError naming the first entry field (or run field) of `doc` with the wrong type."""
    label = str(manifest)
    run = doc.get("run")
    if run is not None:
        _check(run, RUN, label, "run")
    entries = doc.get("checkpoints")
    if entries is None:
        return
    if not isinstance(entries, dict):
        raise CheckpointError(Issue(f"must be an object of file name -> entry, got {shown(entries)}",
                                    field="checkpoints", file=label))
    for name, entry in entries.items():
        _check(entry, ENTRY, label, f"checkpoints.{name}")


def _check(section: Any, fields: dict[str, tuple[Callable[[Any], bool], str]], label: str, where: str) -> None:
    if not isinstance(section, dict):
        raise CheckpointError(Issue(f"must be an object, got {shown(section)}", field=where, file=label))
    for key, (test, what) in fields.items():
        if key in section and not test(section[key]):
            raise CheckpointError(Issue(f"must be {what}, got {shown(section[key])}; nothing is read through "
                                        "this manifest", field=f"{where}.{key}", file=label))
