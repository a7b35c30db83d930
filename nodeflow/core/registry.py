"""The registry of node types: the built-in `nodes` package plus third-party packs.

A pack is an entry point in the group `nodeflow.nodes` that loads to a module with a
`NODES` list, a list of NodeSpec, or a callable returning one. A pack that fails to load
(raises on import, declares a node badly or twice) is left out whole: one NodePackWarning
names it and its error, everything else works, and a workflow whose node types are
unknown is told which pack did not load.
"""
from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from nodeflow.core.spec import PARAM_TYPES, PORT_TYPES, NodeSpec

ENTRY_POINT_GROUP = "nodeflow.nodes"
BUILTIN_PACKAGE = "nodes"


class NodePackWarning(UserWarning):
    """An installed node pack did not load; the CLI prints it as one line."""


class Registry:
    """Node specs by their stable type id, and the packs that failed to load (name -> error)."""

    def __init__(self, specs: Iterable[NodeSpec] = ()):
        self._specs: dict[str, NodeSpec] = {}
        self.broken: dict[str, str] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: NodeSpec) -> None:
        if spec.type in self._specs:
            raise ValueError(f"node type {spec.type!r} is declared twice")
        _check_declaration(spec)
        self._specs[spec.type] = spec

    def add_pack(self, name: str, load: Callable[[], Any]) -> None:
        """Add every spec `load()` gives, or none: a failure is kept in `broken` and warned about once."""
        try:
            specs = _specs_from(load())
            seen = set(self._specs)
            for spec in specs:
                if not isinstance(spec, NodeSpec):
                    raise TypeError(f"NODES holds a {type(spec).__name__}, not a NodeSpec")
                if spec.type in seen:
                    raise ValueError(f"node type {spec.type!r} is declared twice")
                _check_declaration(spec)
                seen.add(spec.type)
        except (Exception, SystemExit) as exc:  # any failure of third-party code: the pack is left out
            lines = str(exc).strip().splitlines()
            self.broken[name] = f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
            warnings.warn(f"node pack {name} did not load ({self.broken[name]}); its node types are "
                          "unavailable, everything else works", NodePackWarning, stacklevel=2)
            return
        for spec in specs:
            self._specs[spec.type] = spec

    def unknown_type(self, type_id: str) -> str:
        """The message for a node type no loaded pack declares, naming the packs that failed to load."""
        if not self.broken:
            return f"unknown node type {type_id!r}"
        packs = "; ".join(f"{name}: {error}" for name, error in self.broken.items())
        return f"unknown node type {type_id!r}; it may come from a node pack that did not load ({packs})"

    def get(self, type_id: str) -> NodeSpec | None:
        return self._specs.get(type_id)

    def trainers(self, workflow: Any) -> list[Any]:
        """The workflow's nodes whose type trains a model (NodeSpec.trains), in file order."""
        return [n for n in workflow.nodes.values() if (spec := self.get(n.type)) is not None and spec.trains]

    def __contains__(self, type_id: str) -> bool:
        return type_id in self._specs

    def all(self) -> list[NodeSpec]:
        return sorted(self._specs.values(), key=lambda s: (s.category, s.type))

    def categories(self) -> list[str]:
        return sorted({s.category for s in self._specs.values()})


def _check_declaration(spec: NodeSpec) -> None:
    """Catch declaration mistakes when a pack loads, not when a user runs it."""
    for port in spec.inputs + spec.outputs:
        if port.type not in PORT_TYPES:
            raise ValueError(f"{spec.type}: port {port.name!r} has unknown type {port.type!r}")
    for param in spec.params:
        if param.type not in PARAM_TYPES:
            raise ValueError(f"{spec.type}: param {param.name!r} has unknown type {param.type!r}")
        if param.type == "choice" and param.default not in param.choices:
            raise ValueError(f"{spec.type}: default of {param.name!r} is not a choice")


def _specs_from(obj: Any) -> list[NodeSpec]:
    if isinstance(obj, ModuleType):
        obj = obj.NODES
    if callable(obj) and not isinstance(obj, NodeSpec):
        obj = obj()
    return list(obj)


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """Built-in nodes plus every installed pack; built once per process."""
    registry = Registry(_specs_from(importlib.import_module(BUILTIN_PACKAGE)))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value.split(":")[0] == BUILTIN_PACKAGE:
            continue
        registry.add_pack(_pack_name(ep), ep.load)
    return registry


def _pack_name(ep: Any) -> str:
    """'dist-name (entry point name = module)', as a user would find it in `pip list`."""
    dist = getattr(getattr(ep, "dist", None), "name", None)
    return f"{dist!r} ({ep.name} = {ep.value})" if dist else f"{ep.name!r} ({ep.value})"
