"""Tiny torch-free node types for engine tests."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodeflow.core import NodeSpec, ParamSpec, PortSpec, Registry


def _source(ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    ctx.log(f"source {params['value']}")
    return {"out": [params["value"]]}


def _add(ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    return {"out": inputs["a"] + inputs.get("b", []) + [params["value"]]}


def _boom(ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    raise ZeroDivisionError("division by zero")


def _sink(ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    ctx.report_metrics({"total": sum(inputs["a"])})
    return {}


def _migrate(params: dict[str, Any], version: int) -> dict[str, Any]:
    if version == 1 and "amount" in params:
        params["value"] = params.pop("amount")
    return params


VALUE = ParamSpec("value", "int", 1, "A number", min=0, max=100)
SOURCE = NodeSpec("t.source", "Source", "Test", _source, outputs=(PortSpec("out", "dataset"),),
                  params=(VALUE, ParamSpec("mode", "choice", "a", choices=("a", "b")),
                          ParamSpec("folder", "outdir", "", allow_empty=True)),
                  version=2, migrate=_migrate)
ADD = NodeSpec("t.add", "Add", "Test", _add, params=(VALUE,),
               inputs=(PortSpec("a", "dataset"), PortSpec("b", "dataset", optional=True)),
               outputs=(PortSpec("out", "dataset"),))
BOOM = NodeSpec("t.boom", "Boom", "Test", _boom, inputs=(PortSpec("a", "dataset"),),
                outputs=(PortSpec("out", "dataset"),))
SINK = NodeSpec("t.sink", "Sink", "Test", _sink, inputs=(PortSpec("a", "dataset"),))
MODEL_SINK = NodeSpec("t.model_sink", "ModelSink", "Test", _sink, inputs=(PortSpec("a", "model"),))


def registry() -> Registry:
    return Registry([SOURCE, ADD, BOOM, SINK, MODEL_SINK])


def doc(nodes: dict[str, tuple[str, str, dict[str, Any]]], links: list[str]) -> dict[str, Any]:
    """A workflow document from {id: (type, name, params)} and 'src.port>dst.port' links."""
    out_links = []
    for text in links:
        a, b = text.split(">")
        out_links.append({"from": dict(zip(("node", "port"), a.split("."))),
                          "to": dict(zip(("node", "port"), b.split(".")))})
    return {
        "format": "nodeflow.workflow", "version": 1, "name": "test",
        "nodes": {i: {"type": t, "version": 2 if t == "t.source" else 1, "name": n, "params": p}
                  for i, (t, n, p) in nodes.items()},
        "links": out_links, "layout": {},
    }
