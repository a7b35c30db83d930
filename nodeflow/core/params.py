"""Parameter coercion and checking, derived from ParamSpec alone.

Values come from JSON (typed) or from text (`--set`, dialogs). Both go through
`coerce`, which returns the clean value or raises ParamError with a one-line reason.
"""
from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any

from nodeflow.core.spec import ParamSpec

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class ParamError(ValueError):
    """A value does not fit its ParamSpec; the message says why in one line."""


def coerce(spec: ParamSpec, value: Any, *, from_text: bool = False) -> Any:
    """Return `value` converted to the param's type, or raise ParamError."""
    kind = spec.type
    if kind == "int":
        out: Any = _to_int(value, from_text)
    elif kind == "float":
        out = _to_float(value, from_text)
    elif kind == "bool":
        out = _to_bool(value, from_text)
    elif kind == "ints":
        out = _to_ints(value, from_text)
    elif kind in ("str", "choice", "file", "dir", "outdir", "outfile"):
        if not isinstance(value, str):
            raise ParamError(f"expected text, got {_show(value)}")
        out = value.strip() if kind != "str" else value
    else:
        raise ParamError(f"unknown param type {kind!r}")
    _check_bounds(spec, out)
    return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _to_int(value: Any, from_text: bool) -> int:
    if from_text and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ParamError(f"expected an integer, got {_show(value)}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):  # NumPy's integers are Integral
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(float(value))
        raise ParamError(f"expected an integer, got {_show(value)}")
    return int(value)


def _to_float(value: Any, from_text: bool) -> float:
    if from_text and isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            raise ParamError(f"expected a number, got {_show(value)}") from None
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):  # NumPy's numbers are Real
        raise ParamError(f"expected a number, got {_show(value)}")
    else:
        out = float(value)
    if not math.isfinite(out):
        raise ParamError(f"expected a finite number, got {_show(value)}")
    return out


def _to_bool(value: Any, from_text: bool) -> bool:
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # NumPy's bool
        return bool(value)
    if from_text and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ParamError(f"expected true or false, got {_show(value)}")


def _to_ints(value: Any, from_text: bool) -> list[int]:
    if isinstance(value, str) and from_text:
        parts = [p for p in value.replace(" ", "").strip("[]").split(",") if p]
        return [_to_int(p, True) for p in parts]
    if not isinstance(value, list):
        raise ParamError(f"expected a list of integers, got {_show(value)}")
    return [_to_int(v, False) for v in value]


def _check_bounds(spec: ParamSpec, value: Any) -> None:
    if spec.type == "choice" and value not in spec.choices:
        raise ParamError(f"must be one of {', '.join(spec.choices)} (got {_show(value)})")
    numbers = value if spec.type == "ints" else [value] if spec.type in ("int", "float") else []
    for number in numbers:
        if spec.min is not None and number < spec.min:
            raise ParamError(f"must be at least {_fmt(spec.min)} (got {_fmt(number)})")
        if spec.max is not None and number > spec.max:
            raise ParamError(f"must be at most {_fmt(spec.max)} (got {_fmt(number)})")


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)


def resolve_path(value: str, base: Path) -> Path:
    """An absolute path for a path param; relative values resolve against `base`."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def check_path(spec: ParamSpec, value: str, base_dir: Path) -> str | None:
    """Why a path param cannot be used, or None. Never creates or writes anything."""
    if value == "":
        return None if spec.allow_empty else "a path is required"
    if spec.type == "file":
        path = resolve_path(value, base_dir)
        return None if path.is_file() else f"file not found: {path}"
    if spec.type == "dir":
        path = resolve_path(value, base_dir)
        return None if path.is_dir() else f"folder not found: {path}"
    if spec.type in ("outdir", "outfile"):
        return writable_reason(resolve_path(value, Path.cwd()), spec.type == "outdir")
    return None


def writable_reason(path: Path, is_dir: bool) -> str | None:
    """Why `path` cannot be created or written, or None when it can.

    Permission bits do not tell everything (root passes them; /proc refuses anyway), so
    this tries: a temporary folder made and removed in the nearest existing folder.
    """
    if path.exists():
        if is_dir and not path.is_dir():
            return f"{path} exists and is not a folder"
        if not is_dir and path.is_dir():
            return f"{path} is a folder, not a file"
        target = path if is_dir else path.parent
        return None if _can_create_in(target) else f"{target} is not writable"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {path}: {parent} is not a folder"
    if not _can_create_in(parent):
        return f"cannot create {path}: {parent} is not writable"
    return None


def _can_create_in(folder: Path) -> bool:
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".nodeflow-probe-", dir=folder))
    except OSError:
        return False
    return True
