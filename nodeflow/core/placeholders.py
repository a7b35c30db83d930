"""`{name}` placeholders in a path template (a Trainer's checkpoint_dir: "checkpoints/{model}_{timestamp}").

Only bare names from a known set are placeholders; they are filled by plain substitution, never by
str.format, so a template read from a file cannot ask for a 1.5 GB padded field ("{model:>1500000000}")
or reach into objects ("{model.__class__.__mro__}"). `{{` and `}}` stand for literal braces.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from string import Formatter


def _fields(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return list(Formatter().parse(template))


def placeholder_problem(template: str, known: Sequence[str]) -> str | None:
    """Why `template` is not a plain text with bare `{name}` placeholders from `known`; None when it is."""
    allowed = " or ".join([", ".join(f"{{{k}}}" for k in known[:-1]), f"{{{known[-1]}}}"])
    try:
        fields = _fields(template)
    except ValueError:
        return f"unbalanced braces: placeholders are {allowed} (write {{{{ or }}}} for a literal brace)"
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name in known and not spec and not conversion:
            continue
        base = name.split(".")[0].split("[")[0]
        if base in known:
            return f"a placeholder is a bare name, no format, attribute or index: write {{{base}}}"
        return f"unknown placeholder: use {allowed}"
    return None


def fill(template: str, values: Mapping[str, str]) -> str:
    """`template` with each `{name}` replaced by values[name]; raises ValueError for anything
    placeholder_problem refuses."""
    problem = placeholder_problem(template, list(values))
    if problem:
        raise ValueError(problem)
    return "".join(literal + (values[name] if name is not None else "") for literal, name, _, _ in _fields(template))
