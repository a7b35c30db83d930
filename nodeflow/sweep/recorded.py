"""A study read back: the typed reader at the study's boundary, and the best trial's checked params.

A study's database may have been edited by anyone, so everything `sweep show` and a sweep's end
use from it passes through here first: the study's marks (workflow, params, metric), its direction,
and each trial's state, value, params and notes, each checked for its type. A trial may hold only
the params the study declared; a complete trial's value is a finite number. Before the best
trial's params are written anywhere, each is checked against the range or choices the study
declared (`check_params`). Any failure is one UserError line naming the study's file and the field.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nodeflow.core.errors import Issue, UserError
from nodeflow.core.tasks import ALL_MONITORS
from nodeflow.sweep.space import Dim

STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "fail", "RUNNING": "running", "WAITING": "waiting"}
DIRECTIONS = ("minimize", "maximize")
PARAMS_LIMIT = 100  # params one study may search
TEXT_LIMIT = 4096  # characters of a recorded text (the workflow's path, a param's range, a note)
NOTES = {"run_id": str, "checkpoint_dir": str, "last_checkpoint": str, "error": str, "host": str}
WHOLE_NOTES = ("pid", "pruned_after_epoch", "retry_of")


@dataclass(frozen=True)
class Recorded:
    """What a study holds, checked: `rows` are plain dicts (trial, state, value, params, seconds,
    run_id, checkpoint_dir, last_checkpoint, note), in trial order."""

    name: str
    label: str  # where the study lives: its file, or its storage URL
    workflow: str
    params: dict[str, str]  # NODE.FIELD -> the range as given to --param
    metric: str
    direction: str
    rows: tuple[dict[str, Any], ...]

    def best(self) -> dict[str, Any] | None:
        """The complete trial with the lowest value (minimize) or the highest (maximize); ties: the first."""
        done = [r for r in self.rows if r["state"] == "complete"]
        if not done:
            return None
        sign = 1 if self.direction == "minimize" else -1
        return min(done, key=lambda r: (sign * r["value"], r["trial"]))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r["state"]] = out.get(r["state"], 0) + 1
        return out

    def bad(self, message: str, field: str) -> UserError:
        return UserError(Issue(f"study {self.name!r}: {message}", file=self.label, field=field))


def read_study(study: Any, label: str) -> Recorded:
    """`study` (an Optuna study) as a Recorded, every part checked; UserError naming `label` and the field."""
    name = str(study.study_name)
    try:  # Optuna decodes each row as it loads it: an edited row fails there, with any exception
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's remarks on odd rows: the checks below decide
            return _read(study, Recorded(name, label, "", {}, "", "", ()))
    except UserError:
        raise
    except Exception as exc:  # the database is untrusted input; its decoder's errors are not ours
        first = (str(exc).splitlines() or [""])[0][:200] or "a row that cannot be decoded"
        raise UserError(Issue(f"study {name!r} cannot be read: {type(exc).__name__}: {first}",
                              file=label, field="trials")) from None


def _read(study: Any, head: Recorded) -> Recorded:
    marks = dict(study.user_attrs)
    recorded = Recorded(head.name, head.label, _text(head, marks, "workflow"), _params(head, marks.get("params")),
                        _metric(head, marks.get("metric")), _direction(head, study.direction), ())
    rows = tuple(_row(recorded, t) for t in study.get_trials(deepcopy=False))
    numbers = [r["trial"] for r in rows]
    if len(set(numbers)) != len(numbers):
        raise recorded.bad("two trials share one number", "trials")
    return Recorded(**{**recorded.__dict__, "rows": rows})


def check_params(recorded: Recorded, row: dict[str, Any], dims: Iterable[Dim]) -> dict[str, Any]:
    """`row`'s params, each inside the range or among the choices its Dim declares; UserError otherwise."""
    dims = list(dims)
    declared = {d.name for d in dims}
    for key in row["params"]:
        if key not in declared:
            raise recorded.bad(f"trial {row['trial']} holds {key!r}, a param this sweep does not search", key)
    for dim in dims:
        if dim.name not in row["params"]:
            raise recorded.bad(f"trial {row['trial']} has no value for {dim.name}", dim.name)
        problem = _outside(dim, row["params"][dim.name])
        if problem:
            raise recorded.bad(f"trial {row['trial']}: {problem}", dim.name)
    return dict(row["params"])


def _outside(dim: Dim, value: Any) -> str:
    """Why `value` is not one `dim` allows; '' when it is."""
    if dim.kind == "choice":
        if any(isinstance(value, bool) == isinstance(c, bool) and type(value) is type(c) and value == c
               for c in dim.choices):
            return ""
        return f"{value!r} is not one of its choices ({dim.text})"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if dim.param_type == "int" and not isinstance(value, int):
        return f"{value!r} is not a whole number"
    if not dim.low <= value <= dim.high:  # type: ignore[operator]
        return f"{value!r} is outside its range ({dim.text})"
    if dim.step and (value - dim.low) % dim.step:  # type: ignore[operator]
        return f"{value!r} is not on its steps ({dim.text})"
    return ""


def _text(head: Recorded, marks: dict[str, Any], key: str) -> str:
    value = marks.get(key)
    if not isinstance(value, str) or not value or len(value) > TEXT_LIMIT:
        raise head.bad(f"its {key} must be a text of 1 to {TEXT_LIMIT} characters, got {_kind(value)}", key)
    return value


def _params(head: Recorded, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not 1 <= len(value) <= PARAMS_LIMIT:
        raise head.bad(f"its params must map 1 to {PARAMS_LIMIT} NODE.FIELD names to ranges, got {_kind(value)}",
                       "params")
    for key, text in value.items():
        if "." not in key or len(key) > TEXT_LIMIT or not isinstance(text, str) or len(text) > TEXT_LIMIT:
            raise head.bad(f"its params must map NODE.FIELD to a range text, got {key[:100]!r}: {_kind(text)}",
                           "params")
    return dict(value)


def _metric(head: Recorded, value: Any) -> str:
    if not isinstance(value, str) or value.rpartition(".")[2] not in ALL_MONITORS or len(value) > TEXT_LIMIT:
        raise head.bad(f"its metric must be a per-epoch metric such as val_loss, got {_kind(value)}", "metric")
    return value


def _direction(head: Recorded, direction: Any) -> str:
    name = str(getattr(direction, "name", direction)).lower()
    if name not in DIRECTIONS:
        raise head.bad(f"its direction must be minimize or maximize, got {name[:40]!r}", "direction")
    return name


def _row(study: Recorded, trial: Any) -> dict[str, Any]:
    number, state = trial.number, STATES.get(trial.state.name, trial.state.name.lower())
    notes = _notes(study, number, trial.user_attrs)
    for key, value in trial.params.items():
        if key not in study.params:
            raise study.bad(f"trial {number} holds {key!r}, a param this study does not search", key[:100])
        if not isinstance(value, (bool, int, float, str)) or (isinstance(value, float) and not math.isfinite(value)):
            raise study.bad(f"trial {number}: {value!r} is not a plain finite value", key)
    value = trial.value if trial.values else _last(trial.intermediate_values)
    if state == "complete" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                or not math.isfinite(value)):
        raise study.bad(f"trial {number} is complete but its value is {value!r}, not a finite number", "value")
    seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() \
        if trial.datetime_complete and trial.datetime_start else None
    note = notes.get("error", "")
    if notes.get("pruned_after_epoch"):
        note = f"pruned after epoch {notes['pruned_after_epoch']}"
    if notes.get("retry_of") is not None:
        note = (note + "; " if note else "") + f"retry of trial {notes['retry_of']}"
    return {"trial": number, "state": state, "value": value, "params": dict(trial.params), "seconds": seconds,
            "run_id": notes.get("run_id", ""), "checkpoint_dir": notes.get("checkpoint_dir", ""),
            "last_checkpoint": notes.get("last_checkpoint", ""), "note": note}


def _notes(study: Recorded, number: int, user_attrs: dict[str, Any]) -> dict[str, Any]:
    """A trial's notes (worker, outcome, retry_of) in one dict, each of the type NodeFlow writes."""
    notes = {k: v for k, v in user_attrs.items() if k not in ("worker", "outcome")}
    for key in ("worker", "outcome"):
        part = user_attrs.get(key)
        if part is None:
            continue
        if not isinstance(part, dict):
            raise study.bad(f"trial {number}: its {key} note must be an object, got {_kind(part)}", key)
        notes.update(part)
    for key, value in notes.items():
        if key in NOTES and (not isinstance(value, str) or len(value) > TEXT_LIMIT):
            raise study.bad(f"trial {number}: its {key} note must be a text, got {_kind(value)}", key)
        if key in WHOLE_NOTES and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise study.bad(f"trial {number}: its {key} note must be a whole number, got {_kind(value)}", key)
    return notes


def _last(values: dict[int, float]) -> float | None:
    return values[max(values)] if values else None


def _kind(value: Any) -> str:
    """A short description of a value read from the study, never its whole text."""
    shown = repr(value)
    return shown if len(shown) <= 60 else f"{type(value).__name__} of {len(shown)} characters"
