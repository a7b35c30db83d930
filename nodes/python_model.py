"""PythonModel: bring your own nn.Module, `package.module:ClassName` or `file.py:ClassName`.

A `.py` path is relative to the workflow file. Running the workflow runs that code, so
validation says so (a warning on the node, in the editor too). The checkpoint's config keeps
the target, the kwargs and the file's absolute path, so `restore_model` can rebuild the model
wherever the module imports; since that runs the code a checkpoint names, it does so only
with `trust_code=True` (`code_of` says what would run, without running it).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.params import resolve_path
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec, RunContext


def split_target(target: str) -> tuple[str, str] | None:
    module, sep, name = target.rpartition(":")
    return (module.strip(), name.strip()) if sep and module.strip() and name.strip().isidentifier() else None


def load_class(target: str, base_dir: Path) -> tuple[type, str]:
    """(the class, the .py file's absolute path or ''); a DataError on field 'target' otherwise."""
    parts = split_target(target)
    if parts is None:
        raise DataError(Issue(f"{target!r} is not module:ClassName or file.py:ClassName", field="target"))
    module_name, name = parts
    source = ""
    try:
        if module_name.endswith(".py"):
            path = resolve_path(module_name, base_dir).resolve()
            if not path.is_file():
                raise DataError(Issue(f"no such file: {path}", field="target"))
            source = str(path)
            spec = importlib.util.spec_from_file_location(f"nodeflow_user_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # so its classes pickle and its dataclasses work
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except DataError:
        raise
    except Exception as exc:  # any error while importing user code is the user's to fix
        raise DataError(Issue(f"{module_name} does not import: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}", field="target")) from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        what = "has no" if cls is None else "has a non-nn.Module"
        raise DataError(Issue(f"{module_name} {what} {name!r}; it must name an nn.Module subclass", field="target"))
    return cls, source


def parse_kwargs(text: str) -> dict[str, Any]:
    try:
        kwargs = json.loads(text or "{}")
    except ValueError as exc:
        raise DataError(Issue(f"kwargs is not JSON: {exc}", field="kwargs")) from None
    if not isinstance(kwargs, dict):
        raise DataError(Issue("kwargs must be a JSON object, e.g. {\"hidden\": 64}", field="kwargs"))
    return kwargs


def build(params: Mapping[str, Any], base_dir: Path, shape: Mapping[str, Any]) -> nn.Module:
    cls, source = load_class(params["target"], base_dir)
    kwargs = parse_kwargs(params["kwargs"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params["seed"])
        try:
            model = cls(**kwargs)
        except Exception as exc:
            raise DataError(Issue(f"{params['target']}(**kwargs) failed: {type(exc).__name__}: {exc}",
                                  field="kwargs")) from None
    model.nodeflow_config = {"type": PYTHON_MODEL.type, "version": 1, "params": dict(params), "source": source,
                             **shape}
    return model


def check(c: CheckInput) -> list[tuple[str, str]]:
    if split_target(c.params["target"]) is None:
        return [("target", f"{c.params['target']!r} is not module:ClassName or file.py:ClassName")]
    try:
        parse_kwargs(c.params["kwargs"])
    except DataError as exc:
        return [("kwargs", exc.issues[0].message)]
    return []


def warn(params: Mapping[str, Any]) -> str:
    module = (split_target(params["target"]) or ("?", ""))[0]
    return f"this workflow runs Python code from {module}: open it only if you trust that code"


def run(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    data = inputs["dataset"]
    shape = {"input_shape": list(data.input_shape), "output_size": int(data.output_size)}
    model = build(params, Path(ctx.base_dir), shape)
    count = sum(t.numel() for t in model.parameters())
    source = cast(dict, model.nodeflow_config)["source"]
    ctx.log(f"{params['target']}: {count:,} parameters (code from {source or 'an import'})")
    return {"model": model}


def _saved_target(config: Mapping[str, Any]) -> tuple[dict[str, Any], Path]:
    """(params, base folder) that rebuild builds from: the file it was trained from, wherever
    the checkpoint is opened, else the target as saved (relative to the current folder)."""
    params = PYTHON_MODEL.defaults() | dict(config.get("params", {}))
    _, name = split_target(params["target"]) or ("", "")
    source = str(config.get("source") or "")
    if source:
        params["target"] = f"{source}:{name}"
    return params, Path(source).parent if source else Path.cwd()


def code_of(config: Mapping[str, Any]) -> tuple[str, str]:
    """What rebuilding `config` would run, without running it: ("file", absolute path) or ("module", name)."""
    params, base = _saved_target(config)
    module = (split_target(params["target"]) or (params["target"], ""))[0]
    if module.endswith(".py"):
        return "file", str(resolve_path(module, base).resolve())
    return "module", module


def rebuild(config: Mapping[str, Any]) -> nn.Module:
    """Runs the user's code: restore_model asks for trust_code=True first (code_of says what runs)."""
    params, base = _saved_target(config)
    shape = {k: config[k] for k in ("input_shape", "output_size") if k in config}
    return build(params, base, shape)


PYTHON_MODEL = NodeSpec(
    type="model.python", title="PythonModel", category="Models", run=run, rebuild=rebuild, check=check,
    warning=warn, runs_code=code_of,
    inputs=(PortSpec("dataset", "dataset", "Training data (its shape is logged; your class decides what it takes)"),),
    outputs=(PortSpec("model", "model", "The untrained model"),),
    description="Your own nn.Module: package.module:ClassName, or file.py:ClassName beside the workflow, "
                "built with kwargs. Running the workflow runs that code.",
    params=(
        ParamSpec("target", "str", "my_model.py:Net", "module:ClassName, or a .py file (relative to the workflow) "
                  ":ClassName"),
        ParamSpec("kwargs", "str", "{}", "Constructor arguments as a JSON object, e.g. {\"hidden\": 64}"),
        ParamSpec("seed", "int", 0, "Seed of the initial weights", min=0, max=2**31 - 1),
    ),
)

NODES = [PYTHON_MODEL]
