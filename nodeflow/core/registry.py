"""The registry of node types: the built-in `nodes` package plus third-party packs.

A pack is an entry point in the group `nodeflow.nodes` that loads to a module with a
`NODES` list, a list of NodeSpec, or a callable returning one.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from nodeflow.core.spec import PARAM_TYPES, PORT_TYPES, NodeSpec

ENTRY_POINT_GROUP = "nodeflow.nodes"
BUILTIN_PACKAGE = "nodes"


class Registry:
    """Node specs by their stable type id."""

    def __init__(self, specs: Iterable[NodeSpec] = ()):
        self._specs: dict[str, NodeSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: NodeSpec) -> None:
        if spec.type in self._specs:
            raise ValueError(f"node type {spec.type!r} is declared twice")
        _check_declaration(spec)
        self._specs[spec.type] = spec

    def get(self, type_id: str) -> NodeSpec | None:
        return self._specs.get(type_id)

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
        for spec in _specs_from(ep.load()):
            registry.add(spec)
    return registry
