"""What a run record in the run index may hold: the typed check every record passes when read back.

A record is a JSON file anyone can edit (`$NODEFLOW_HOME/runs/<id>.json`). `record_problem`
says, in a few words naming the field, why one cannot be listed, shown, compared or drawn;
the reader leaves such a record out with one line instead of failing on it later.
Standard library only: the editor's Runs panel reads records without torch.
"""
from __future__ import annotations

import math
from typing import Any

MAX_RECORD = 16 << 20  # bytes: a record holds at most a few thousand curve points
TEXT_FIELDS = ("status", "started", "ended", "workflow", "workflow_hash", "workflow_text")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool)) or _number(value) or \
        (isinstance(value, float) and math.isnan(value))


def _by_node(record: dict[str, Any], field: str) -> dict[str, Any]:
    value = record.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(f"{field}: not an object of nodes")
    return value


def _check(record: Any) -> None:
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    run_id = record.get("id")
    if not isinstance(run_id, str) or not 0 < len(run_id) <= 64 or not run_id.isprintable():
        raise ValueError("id: not a run id")
    for field in TEXT_FIELDS:
        if record.get(field) is not None and not isinstance(record[field], str):
            raise ValueError(f"{field}: not text")
    for field in ("seconds", "created"):
        if record.get(field) is not None and not _number(record[field]):
            raise ValueError(f"{field}: not a number")
    for node, metrics in _by_node(record, "metrics").items():
        if not all(isinstance(k, str) and (_scalar(v) or isinstance(v, (list, dict))) for k, v in metrics.items()):
            raise ValueError(f"metrics.{node}: not metric values")
    for node, curves in _by_node(record, "history").items():
        if not all(isinstance(v, list) and all(_scalar(x) for x in v) for v in curves.values()):
            raise ValueError(f"history.{node}: not lists of values")
    for node, curves in _by_node(record, "steps").items():
        for key in ("train_loss", "lr", "val_loss"):
            points = curves.get(key, [])
            if not isinstance(points, list) or not all(
                    isinstance(p, list) and len(p) == 2 and all(_number(x) for x in p) for p in points):
                raise ValueError(f"steps.{node}.{key}: not [step, value] pairs")
    checkpoints = record.get("checkpoints") or {}
    if not isinstance(checkpoints, dict) or not all(isinstance(v, str) for v in checkpoints.values()):
        raise ValueError("checkpoints: not folders by node")
    changed = record.get("changed") or {}
    if not isinstance(changed, dict) or not all(isinstance(v, list) and len(v) == 2 for v in changed.values()):
        raise ValueError("changed: not [saved, run with] pairs")
    for field in ("results", "sweep"):
        if record.get(field) is not None and not isinstance(record[field], dict):
            raise ValueError(f"{field}: not an object")


def record_problem(record: Any) -> str | None:
    """Why `record` is not a run record NodeFlow can show (the field and what is wrong), or None."""
    try:
        _check(record)
    except ValueError as exc:
        return str(exc)
    return None
