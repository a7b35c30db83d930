"""A sweep's search space: `--param NODE.FIELD=KIND:ARGS`, checked against the node's declaration.

Kinds: `loguniform:LO:HI` and `uniform:LO:HI` (int or float params), `int:LO:HI[:STEP]` (int params),
`choice:A,B,C` (any param; for a list-of-integers param the choices are separated by `|`, e.g.
`CNN.channels=choice:16,32|32,64`). Every bound and choice goes through the same check as
`--set NODE.FIELD=VALUE` (nodeflow.core.overrides), so a bad node, field, type or range is one line
naming node and field, before any trial runs. Standard library only: the editor's Sweep dialog
checks its rows with it too.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from nodeflow.core.errors import Issue, UserError
from nodeflow.core.overrides import apply_overrides
from nodeflow.core.registry import Registry
from nodeflow.core.workflow import Workflow

KINDS = ("loguniform", "uniform", "int", "choice")
PRIMITIVE = (bool, int, float, str)


@dataclass(frozen=True)
class Dim:
    """One swept param: `name` is `Node.field`; `choices` hold plain values (a list param: its text)."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: int | None = None
    choices: tuple[Any, ...] = ()
    param_type: str = ""
    text: str = ""  # as written after the `=`, kept in the study to recognise the same sweep

    @property
    def node(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def field(self) -> str:
        return self.name.rpartition(".")[2]

    def grid(self) -> list[Any] | None:
        """Every value, for the grid sampler; None for a continuous range."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int" or (self.param_type == "int" and self.kind == "uniform"):
            return list(range(int(self.low), int(self.high) + 1, self.step or 1))  # type: ignore[arg-type]
        return None


def as_text(value: Any) -> str:
    """A value as `--set` reads it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_params(workflow: Workflow, registry: Registry, items: Iterable[str]) -> list[Dim]:
    """The `--param` items as Dims; every bad item is reported at once (UserError)."""
    dims, issues, seen = [], [], set()
    for item in items:
        try:
            dim = _parse(workflow, registry, item)
        except UserError as exc:
            issues += exc.issues
            continue
        if dim.name in seen:
            issues.append(Issue("--param: given twice", node=dim.node, field=dim.field, file=workflow.label))
        seen.add(dim.name)
        dims.append(dim)
    if not dims and not issues:
        issues.append(Issue("give at least one --param NODE.FIELD=KIND:ARGS", field="--param"))
    if issues:
        raise UserError(issues)
    return dims


def _parse(workflow: Workflow, registry: Registry, item: str) -> Dim:
    target, sep, text = item.partition("=")
    name, dot, field = target.rpartition(".")
    if not sep or not dot or not name or not field:
        raise UserError(Issue(f"--param {item!r}: expected NODE.FIELD=KIND:ARGS (kinds: {', '.join(KINDS)})"))
    param_type = _param_type(workflow, registry, target)  # an unknown node or field: the --set line

    def bad(message: str) -> UserError:
        return UserError(Issue(f"--param {text!r}: {message}", node=name, field=field, file=workflow.label))

    if param_type in ("outfile", "outdir"):  # each trial writes into its own folder whatever the value
        raise bad("a file or folder the run writes is not searched; each trial writes into its own folder")
    kind, _, args = text.partition(":")
    if kind not in KINDS:
        return _raise(bad(f"expected KIND:ARGS with KIND one of {', '.join(KINDS)}"))
    if kind == "choice":
        parts = [p for p in args.split("|" if param_type == "ints" else ",") if p.strip()]
        if not parts:
            raise bad("choice: needs at least one value")
        values = [_checked(workflow, registry, target, part.strip()) for part in parts]
        values = [v if isinstance(v, PRIMITIVE) else as_text(v) for v in values]
        return Dim(target, kind, choices=tuple(dict.fromkeys(values)), param_type=param_type, text=text)
    if param_type not in ("int", "float"):
        raise bad(f"{kind}: needs a number param (this one is {param_type}); use choice:A,B")
    if kind == "int" and param_type != "int":
        raise bad("int: needs an integer param; use uniform:LO:HI or loguniform:LO:HI")
    bounds = args.split(":")
    if len(bounds) != (3 if kind == "int" and len(bounds) == 3 else 2):
        raise bad(f"expected {kind}:LO:HI" + ("[:STEP]" if kind == "int" else ""))
    low, high = (_checked(workflow, registry, target, b.strip()) for b in bounds[:2])
    step = None
    if len(bounds) == 3:
        try:
            step = int(bounds[2])
        except ValueError:
            raise bad(f"STEP must be an integer, got {bounds[2]!r}") from None
        if step < 1:
            raise bad("STEP must be 1 or more")
    if not low < high:
        raise bad(f"LO must be below HI (got {low} and {high})")
    if kind == "loguniform" and low <= 0:
        raise bad(f"loguniform needs LO above 0 (got {low})")
    return Dim(target, kind, low, high, step, param_type=param_type, text=text)


def _raise(exc: UserError) -> Dim:
    raise exc


def _param_type(workflow: Workflow, registry: Registry, target: str) -> str:
    node = workflow.node_by_name(target.rpartition(".")[0])
    spec = registry.get(node.type) if node else None
    param = spec.param(target.rpartition(".")[2]) if spec else None
    if param is None:  # the --set check names what is wrong
        _checked(workflow, registry, target, "")
    assert param is not None
    return param.type


def _checked(workflow: Workflow, registry: Registry, target: str, text: str) -> Any:
    """`text` as the param's value, checked exactly as `--set target=text` is."""
    probe = copy.deepcopy(workflow)
    try:
        apply_overrides(probe, registry, [f"{target}={text}"])
    except UserError as exc:
        raise UserError([replace(i, message=i.message.replace("--set", "--param", 1)) for i in exc.issues]) from None
    node = probe.node_by_name(target.rpartition(".")[0])
    assert node is not None
    return node.params[target.rpartition(".")[2]]


def overrides(values: Mapping[str, Any]) -> list[str]:
    """A trial's values as `--set` items."""
    return [f"{name}={as_text(value)}" for name, value in values.items()]
