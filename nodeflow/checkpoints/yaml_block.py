"""The experiments layout's `checkpoint:` YAML block (`nodeflow run WORKFLOW --checkpoint-config FILE`), mapped
onto every Trainer's params.

    checkpoint:
      enabled: true              # false (the block's default): no saving
      dir: "./experiments"       # checkpoint_dir, with the experiments layout
      experiment_name: ""        # empty: {model}_{dataset}_{timestamp}
      save_frequency: 10         # save_every_n_epochs
      save_best: true            # best.pt
      resume: ""                 # e.g. ./experiments/NAME/checkpoints/latest.pt
      monitor: val_loss          # the metric best.pt follows (left out: the Trainer's own choice)
      save_top_k: 0              # keep the k periodic files with the best monitored value (0: all)
      early_stop_patience: 0     # stop after this many epochs without improvement (0: never)

Keys left out take the block's defaults (DEFAULTS). Other top-level sections (a run's own config.yaml
has model, trainer, data) are parsed but never turned into values, so nothing in them is expanded.

The file is untrusted input: at most MAX_BYTES, nested at most MAX_DEPTH deep, plain values only
(object tags such as `!!python/...` are refused), no aliases (`*name`) inside the block, so a few
hundred bytes cannot expand into gigabytes; every key's type is checked, and a bad value is echoed cut.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nodeflow.core.errors import Issue, UserError
from nodeflow.core.printable import cut
from nodeflow.core.tasks import ALL_MONITORS
from nodeflow.checkpoints.layout import name_problem

if TYPE_CHECKING:
    from nodeflow.checkpoints.run_request import RunRequest

DEFAULTS: dict[str, Any] = {"enabled": False, "dir": "./experiments", "experiment_name": "", "save_frequency": 10,
                            "save_best": True, "resume": "", "monitor": "",
                            "save_top_k": 0, "early_stop_patience": 0}
TYPES = {"enabled": "bool", "dir": "str", "experiment_name": "name", "save_frequency": "int", "save_best": "bool",
         "resume": "path", "monitor": "monitor", "save_top_k": "count", "early_stop_patience": "count"}
MAX_BYTES = 1 << 20  # a run's own config.yaml is a few kB
MAX_DEPTH = 64
MAX_TEXT = {"str": 4096, "path": 4096, "name": 255}  # a path, a folder name
MAX_EPOCHS = 10**9


class _Loader(yaml.SafeLoader):
    """SafeLoader that records where aliases are used and refuses tags it cannot build and nesting
    deeper than MAX_DEPTH."""

    def __init__(self, text: str):
        super().__init__(text)
        self.depth = 0
        self.aliases: list[Any] = []  # the marks of every `*name`

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.aliases.append(event.start_mark)
        elif getattr(event, "tag", None) not in yaml.SafeLoader.yaml_constructors:
            raise yaml.composer.ComposerError(None, None, "object tags (!!python/...) are not allowed; only plain "
                                              "values", event.start_mark)
        if self.depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                              event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def read_block(path: Path) -> dict[str, Any]:
    """The `checkpoint:` block with its defaults filled in; one-line errors with file, line and key."""
    text = _read_text(path)
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise UserError(_yaml_issue(path, exc)) from None
    if not isinstance(root, yaml.MappingNode):
        raise UserError(Issue("expected a mapping with a 'checkpoint:' block", file=str(path)))
    found = [(k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "checkpoint"]
    if len(found) > 1:
        raise UserError(Issue("more than one 'checkpoint:' block", file=f"{path}:{_line(found[1][0])}",
                              field="checkpoint"))
    if not found or not isinstance(found[0][1], yaml.MappingNode):
        where = f"{path}:{_line(found[0][0])}" if found else str(path)
        raise UserError(Issue("expected a 'checkpoint:' block holding a mapping of keys", file=where,
                              field="checkpoint"))
    block = found[0][1]
    if any(block.start_mark.index <= mark.index < block.end_mark.index for mark in loader.aliases):
        mark = next(m for m in loader.aliases if block.start_mark.index <= m.index < block.end_mark.index)
        raise UserError(Issue("not valid here: aliases (*name) are not allowed in the 'checkpoint:' block; "
                              "write each value out", file=f"{path}:{mark.line + 1}", field="checkpoint"))
    values, issues = _values(path, loader, block)
    if issues:
        raise UserError(issues)
    return {**DEFAULTS, **values}


def overrides(path: Path, trainers: list[str]) -> list[str]:
    """`--set` items that apply the block to each named Trainer."""
    block = read_block(path)
    if not block["enabled"]:
        return [f"{name}.checkpoint_dir=" for name in trainers]
    params = {"checkpoint_dir": block["dir"], "layout": "experiments", "experiment_name": block["experiment_name"],
              "save_every_n_epochs": block["save_frequency"], "save_best": str(block["save_best"]).lower(),
              "resume": block["resume"], "save_top_k": block["save_top_k"],
              "early_stop_patience": block["early_stop_patience"],
              **({"monitor": block["monitor"]} if block["monitor"] else {})}
    return [f"{name}.{key}={value}" for name in trainers for key, value in params.items()]


def checkpoint_block(request: RunRequest, folder: Path, monitor: str = "auto", patience: int = 0) -> dict[str, Any]:
    """A run's settings as this block, for the config.yaml in its experiment folder `folder`."""
    return {"enabled": True, "dir": request.checkpoint_dir, "experiment_name": folder.name,
            "save_frequency": request.save_every_n_epochs, "save_best": request.save_best,
            "resume": request.resume, "monitor": monitor, "save_top_k": request.save_top_k,
            "early_stop_patience": patience}


def config_yaml(request: RunRequest, folder: Path, snapshot: Mapping[str, Any]) -> str:
    """The experiments layout's config.yaml: the `checkpoint:` block, then the run's model, trainer and data."""
    trainer = snapshot.get("trainer") or {}
    block = checkpoint_block(request, folder, str(trainer.get("monitor", "auto")),
                             int(trainer.get("early_stop_patience") or 0))
    return yaml.safe_dump({"checkpoint": block, **snapshot}, sort_keys=False)


def _read_text(path: Path) -> str:
    where = str(path)
    try:
        if not path.is_file():
            raise UserError(Issue("not a regular file" if path.exists() else "no such file", file=where))
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise UserError(Issue(f"larger than {MAX_BYTES >> 10} KiB: not a checkpoint settings file", file=where))
        return data.decode("utf-8-sig")
    except OSError as exc:
        raise UserError(Issue(f"cannot read: {exc.strerror or exc}", file=where)) from None
    except UnicodeDecodeError:
        raise UserError(Issue("cannot read: not UTF-8 text", file=where)) from None


def _values(path: Path, loader: _Loader, block: Any) -> tuple[dict[str, Any], list[Issue]]:
    """Each key of the block built into a plain value and checked, or an issue at its line."""
    values: dict[str, Any] = {}
    issues: list[Issue] = []
    for key_node, value_node in block.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        where, field = f"{path}:{_line(key_node)}", f"checkpoint.{cut(str(key), 40)}"
        if not isinstance(key, str) or key_node.tag != "tag:yaml.org,2002:str":
            issues.append(Issue(f"keys must be plain names (known: {', '.join(DEFAULTS)})", file=where))
            continue
        if key in values:
            issues.append(Issue("given twice", file=where, field=field))
            continue
        try:
            value = loader.construct_object(value_node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            issues.append(Issue(f"not a valid value: {cut(problem, 60)}", file=where, field=field))
            continue
        problem = _problem(key, value)
        if problem:
            issues.append(Issue(problem, file=where, field=field))
        values[key] = "" if value is None else value
    return values, issues


def _problem(key: str, value: Any) -> str | None:
    kind = TYPES.get(key)
    got = f"(got {cut(repr(value), 60)})"
    if kind is None:
        return f"unknown key (known: {', '.join(DEFAULTS)})"
    if kind == "bool":
        return None if isinstance(value, bool) else f"must be true or false {got}"
    if kind == "monitor":
        known = ("auto", *ALL_MONITORS)
        return None if value in ("", None, *known) else f"must be one of {', '.join(known)} {got}"
    if kind in ("int", "count"):
        least, what = (1, "a whole number of epochs, 1 or more") if kind == "int" else (0, "a whole number, 0 or more")
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_EPOCHS:
            return f"must be {what} {got}"
        return None
    if value is None and kind != "str":
        return None
    if not isinstance(value, str):
        return f"must be a string {got}"
    if kind == "str" and not value.strip():
        return "must not be empty"
    if len(value) > MAX_TEXT[kind]:
        return f"longer than {MAX_TEXT[kind]} characters"
    if not value.isprintable():
        return f"must not hold control characters {got}"
    if kind == "name" and value:
        return name_problem(value)
    return None


def _yaml_issue(path: Path, exc: yaml.YAMLError) -> Issue:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    problem = str(getattr(exc, "problem", "") or exc).splitlines()[0]
    return Issue(f"not valid YAML: {problem}", file=where)


def _line(node: Any) -> int:
    return node.start_mark.line + 1
