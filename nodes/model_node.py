"""What every model node shares: the Shape a model is built for and `model_node`, which turns a
build function and its params into a model node's declaration.

Each model carries `nodeflow_config` (type, params, input shape, output size, and the
vocabulary and text length where the data has them): enough for `restore_model` to
rebuild it from a checkpoint without the workflow file. Each family declares its node in
the module that implements it (models.py, gpt.py, modern.py, encoders.py).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nodeflow.core.spec import CheckFn, NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import TABLE_TASKS

OUTPUTS = (PortSpec("model", "model", "The untrained model"),)
SEED = ParamSpec("seed", "int", 0, "Seed of the initial weights", min=0, max=2**31 - 1)


@dataclass(frozen=True)
class Shape:
    """What a model is built for: one sample's input shape, the output width, and for text the
    vocabulary and the caption length (CLIP's text tower)."""

    input: list[int]
    out: int
    vocab: int = 0
    text_length: int = 0

    @classmethod
    def of(cls, data: Any) -> Shape:
        info = data.info
        return cls(list(data.input_shape), int(data.output_size), int(info.get("vocab_size", 0)),
                   int(info.get("caption_length", 0)))

    def config(self) -> dict[str, Any]:
        extra = {"vocab_size": self.vocab, "text_length": self.text_length}
        return {"input_shape": list(self.input), "output_size": self.out} | {k: v for k, v in extra.items() if v}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Shape:
        return cls(list(config["input_shape"]), int(config["output_size"]), int(config.get("vocab_size", 0)),
                   int(config.get("text_length", 0)))


def model_node(type_id: str, title: str, build: Callable[..., nn.Module], description: str,
               params: tuple[ParamSpec, ...], tasks: tuple[str, ...] = TABLE_TASKS,
               check: CheckFn | None = None) -> NodeSpec:
    """A model node for data of `tasks`: run builds from the connected data, rebuild from a saved config."""
    all_params = params + (SEED,)
    inputs = (PortSpec("dataset", "dataset", "Training data: sets the input shape and number of outputs",
                       tasks=tasks),)

    def make(p: Mapping[str, Any], shape: Shape) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p["seed"])
            model = build(p, shape)
        # nn.Module types its attributes as tensors and submodules; this one is a plain dict
        model.nodeflow_config = {"type": type_id, "version": 1, "params": dict(p), **shape.config()}  # type: ignore[assignment]
        return model

    def run(ctx: RunContext, inputs: Mapping[str, Any], p: Mapping[str, Any]) -> dict[str, Any]:
        data = inputs["dataset"]
        model = make(p, Shape.of(data))
        count = sum(t.numel() for t in model.parameters())
        ctx.log(f"{title}: {count:,} parameters, input {data.input_shape}, {data.output_size} outputs")
        return {"model": model}

    def rebuild(config: Mapping[str, Any]) -> nn.Module:
        params = {q.name: q.default for q in all_params} | dict(config.get("params", {}))
        return make(params, Shape.from_config(config))

    return NodeSpec(type=type_id, title=title, category="Models", run=run, inputs=inputs, check=check,
                    outputs=OUTPUTS, params=all_params, description=description, rebuild=rebuild)
