"""The experiments layout's `checkpoint:` YAML block (`nodeflow run WORKFLOW --checkpoint-config FILE`), mapped
onto every Trainer's params. Read with yaml.safe_load: object tags (`!!python/...`) are refused.

    checkpoint:
      enabled: true              # false (the block's default): no saving
      dir: "./experiments"       # checkpoint_dir, with the experiments layout
      experiment_name: ""        # empty: {model}_{dataset}_{timestamp}
      save_frequency: 10         # save_every_n_epochs
      save_best: true            # best.pt
      resume: ""                 # e.g. ./experiments/NAME/checkpoints/latest.pt

Keys left out take the block's defaults (DEFAULTS). Other top-level sections (a run's own config.yaml
has model, trainer, data) are ignored.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nodeflow.core.errors import Issue, UserError
from nodeflow.checkpoints.layout import name_problem

DEFAULTS: dict[str, Any] = {"enabled": False, "dir": "./experiments", "experiment_name": "", "save_frequency": 10,
                            "save_best": True, "resume": ""}
TYPES = {"enabled": "bool", "dir": "str", "experiment_name": "name", "save_frequency": "int", "save_best": "bool",
         "resume": "path"}


def read_block(path: Path) -> dict[str, Any]:
    """The `checkpoint:` block with its defaults filled in; one-line errors with file, line and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(Issue(f"cannot read: {getattr(exc, 'strerror', None) or exc}", file=str(path))) from None
    try:
        doc = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise UserError(_yaml_issue(path, exc)) from None
    if not isinstance(doc, dict):
        raise UserError(Issue("expected a mapping with a 'checkpoint:' block", file=str(path)))
    if not isinstance(doc.get("checkpoint"), dict):
        where = _line(root, "checkpoint")
        raise UserError(Issue("expected a 'checkpoint:' block holding a mapping of keys",
                              file=f"{path}:{where}" if where else str(path), field="checkpoint"))
    block = doc["checkpoint"]
    lines = {k.value: k.start_mark.line + 1 for k, _ in _node(root, "checkpoint").value}
    issues = []
    for key, value in block.items():
        problem = _problem(key, value)
        if problem:
            issues.append(Issue(problem, file=f"{path}:{lines.get(str(key), '?')}", field=f"checkpoint.{key}"))
    if issues:
        raise UserError(issues)
    return {**DEFAULTS, **{k: ("" if v is None else v) for k, v in block.items()}}


def overrides(path: Path, trainers: list[str]) -> list[str]:
    """`--set` items that apply the block to each named Trainer."""
    block = read_block(path)
    if not block["enabled"]:
        return [f"{name}.checkpoint_dir=" for name in trainers]
    params = {"checkpoint_dir": block["dir"], "layout": "experiments", "experiment_name": block["experiment_name"],
              "save_every_n_epochs": block["save_frequency"], "save_best": str(block["save_best"]).lower(),
              "resume": block["resume"]}
    return [f"{name}.{key}={value}" for name in trainers for key, value in params.items()]


def _problem(key: Any, value: Any) -> str | None:
    kind = TYPES.get(key) if isinstance(key, str) else None
    if kind is None:
        return f"unknown key (known: {', '.join(DEFAULTS)})"
    if kind == "bool" and not isinstance(value, bool):
        return f"must be true or false (got {value!r})"
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        return f"must be a whole number of epochs, 1 or more (got {value!r})"
    if kind in ("str", "path", "name") and not isinstance(value, str) and not (kind != "str" and value is None):
        return f"must be a string (got {value!r})"
    if kind == "str" and not value.strip():
        return "must not be empty"
    if kind == "name" and value:
        return name_problem(value)
    return None


def _yaml_issue(path: Path, exc: yaml.YAMLError) -> Issue:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    problem = str(getattr(exc, "problem", "") or exc).splitlines()[0]
    if "python/" in problem:
        problem = "object tags (!!python/...) are not allowed; only plain values"
    return Issue(f"not valid YAML: {problem}", file=where)


def _node(root: Any, key: str) -> Any:
    return next(v for k, v in root.value if k.value == key)


def _line(root: Any, key: str) -> int | None:
    return next((k.start_mark.line + 1 for k, _ in root.value if k.value == key), None) \
        if isinstance(root, yaml.MappingNode) else None
