"""The checkpoint library: every checkpoint under a root folder, whoever wrote it (a
`checkpoints/` folder shared by several apps). Standard library only; nothing is unpickled
(nodeflow.checkpoints.peek).

Found: NodeFlow's folders (any layout; checked against their manifest), loose .pt/.pth
files, bare state_dicts, the custom-models tree (`custom_models/<name>/config.json + weights.pth`,
`experiments/<name>/model.pth + training_log.txt`), and other trainers' dicts with
`model_state_dict`. `nodeflow ckpt scan ROOT` and the editor's Library view show this table.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.manifest import BACKUPS, PATTERNS, read_entries, size_text, value_text, verify_file
from nodeflow.core.errors import CheckpointError
from nodeflow.checkpoints.peek import Opaque, PeekError, Tensor, peek

COLUMNS = ("file", "kind", "model", "epoch", "metrics", "size", "status")
SKIP = {BACKUPS, "tensorboard", "history", "__pycache__"}  # copies and logs, not checkpoints
HASH_LIMIT = 16 << 20  # larger files listed in a manifest are checked by size; Verify hashes them
BESIDE = ("config.json", "hyperparameters.json", "training_log.txt")
METRIC_KEYS = ("best_acc", "accuracy", "acc", "val_acc", "val_accuracy", "loss", "val_loss", "best_loss")
VERIFIED, UNVERIFIED, REFUSED = "verified", "unverified (no manifest)", "refused (pickled code)"


def scan(root: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """(one record per checkpoint file, sorted by path; every folder looked in, for a watcher)."""
    records, folders = [], []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP and not d.startswith("."))
        folder = Path(here)
        folders.append(folder)
        try:
            entries, refused = read_entries(folder), ""  # read once per folder, not per file
        except CheckpointError as exc:  # its manifest names files outside the folder: not used
            entries, refused = {}, f"✗ {exc.issues[0].message}"
        names = set(files)
        model = _config_type(folder / "config.json") if "config.json" in names else ""
        for name in sorted(files):
            if any(Path(name).match(p) for p in PATTERNS):
                record = describe(folder / name, entries.get(name), root, names, model)
                records.append({**record, "status": refused} if refused else record)
    return records, folders


def describe(path: Path, entry: dict[str, Any] | None, root: Path, siblings: set[str],
             model: str) -> dict[str, Any]:
    """One file's record (`siblings`: the names in its folder; `model`: the type its config.json names)."""
    size = path.stat().st_size
    record: dict[str, Any] = {"path": str(path.resolve()), "file": str(path.relative_to(root)), "size": size,
                              "beside": [n for n in BESIDE if n in siblings]}
    if entry is not None:
        problem = verify_file(path, entry, full=size <= HASH_LIMIT)
        metrics = {entry["monitor"]: entry.get("monitor_value")} if entry.get("monitor") else {}
        status = (VERIFIED if size <= HASH_LIMIT else "size matches (Verify checks SHA-256)") if problem is None \
            else f"✗ {problem}"
        return {**record, "kind": f"nodeflow {entry.get('kind', '')}".strip(), "model": entry.get("model_name", ""),
                "epoch": entry.get("epoch"), "metrics": metrics, "status": status}
    return {**record, **_unlisted(path, siblings, model)}


def _unlisted(path: Path, siblings: set[str], model: str) -> dict[str, Any]:
    """What the pickle shows of a file no manifest lists."""
    guess: dict[str, Any] = {"epoch": _epoch_in(path.name), "metrics": {}, "model": model}
    if path.suffix in (".zst", ".gz"):
        return {**guess, "kind": "compressed", "status": UNVERIFIED}
    try:
        found = peek(path)
    except PeekError as exc:
        return {**guess, "kind": "unreadable", "status": f"✗ {exc}"}
    value = found.value
    if found.unsafe:
        kind = "pickled model" if isinstance(value, Opaque) else "pickled objects"
        return {**guess, "model": "", "kind": kind, "status": f"{REFUSED}: {found.unsafe[0]}"}
    kind = _kind(path.name, value, siblings)
    if isinstance(value, dict):
        if isinstance(value.get("epoch"), int):
            guess["epoch"] = value["epoch"]
        metrics = found_metrics if isinstance(found_metrics := value.get("metrics"), dict) else {}
        metrics = {**{k: value[k] for k in METRIC_KEYS if isinstance(value.get(k), (int, float))}, **metrics}
        guess["metrics"] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        config = found_config if isinstance(found_config := value.get("config"), dict) else {}
        guess["model"] = guess["model"] or _type_in(config)
    return {**guess, "kind": kind, "status": UNVERIFIED}


def _kind(name: str, value: Any, siblings: set[str]) -> str:
    version = re.fullmatch(r"(.+)_v(\d+)\.pth?", name)
    if not isinstance(value, dict):
        return "other"
    if name.startswith("weights.") and "config.json" in siblings:
        return "custom model"
    if name.startswith("model.") and "training_log.txt" in siblings:
        return "experiment"
    if "model_state_dict" in value or isinstance(value.get("state_dict"), dict):
        return "trainer checkpoint"
    if value and all(isinstance(v, Tensor) for v in value.values()):
        return f"state_dict v{version.group(2)}" if version else "state_dict"
    return "other"


def _epoch_in(name: str) -> int | None:
    match = re.search(r"epoch_?(\d+)", name)
    return int(match.group(1)) if match else None


def _config_type(path: Path) -> str:
    """The model type a custom-models tree's config.json names (ours: {"model": {"type": ...}} or {"type": ...})."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return _type_in(doc) if isinstance(doc, dict) else ""


def _type_in(config: dict[str, Any]) -> str:
    model = inner if isinstance(inner := config.get("model"), dict) else config
    return kind if isinstance(kind := model.get("type"), str) else ""


def cells(record: dict[str, Any]) -> dict[str, str]:
    metrics = ", ".join(f"{k}={value_text(v)}" for k, v in record["metrics"].items()) or "-"
    return dict(zip(COLUMNS, (record["file"], record["kind"], record["model"] or "-", value_text(record["epoch"]),
                              metrics, size_text(record["size"]), record["status"]), strict=True))
