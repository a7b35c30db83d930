"""Model nodes: MLP, CNN and a small residual network.

Each model carries `nodeflow_config` (type, params, input shape, output size): enough
for `restore_model` to rebuild it from a checkpoint without the workflow file.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.spec import CheckFn, NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import LANGUAGE_MODELLING, TABLE_TASKS
from nodes.gpt import GPT_PARAMS, build_gpt, check_gpt

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU,
}
OUTPUTS = (PortSpec("model", "model", "The untrained model"),)
ACTIVATION = ParamSpec("activation", "choice", "relu", "Non-linearity", choices=tuple(ACTIVATIONS))
DROPOUT = ParamSpec("dropout", "float", 0.0, "Dropout before the last layer", min=0.0, max=0.9)
SEED = ParamSpec("seed", "int", 0, "Seed of the initial weights", min=0, max=2**31 - 1)


def build_mlp(p: Mapping[str, Any], in_shape: list[int], out: int) -> nn.Module:
    act = ACTIVATIONS[p["activation"]]
    layers: list[nn.Module] = [nn.Flatten()]
    width = 1
    for d in in_shape:
        width *= d
    for hidden in p["hidden"]:
        layers += [nn.Linear(width, hidden), act()]
        width = hidden
    layers += [nn.Dropout(p["dropout"]), nn.Linear(width, out)]
    return nn.Sequential(*layers)


def _image_shape(in_shape: list[int], title: str) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise DataError(Issue(f"{title} needs image data shaped [channels, height, width]; "
                              f"got {in_shape} (use an MLP for flat features)", field="dataset"))
    return in_shape[0], in_shape[1], in_shape[2]


def build_cnn(p: Mapping[str, Any], in_shape: list[int], out: int) -> nn.Module:
    channels, height, width = _image_shape(in_shape, "CNN")
    act, k = ACTIVATIONS[p["activation"]], p["kernel_size"]
    layers: list[nn.Module] = []
    for c in p["channels"]:
        layers += [nn.Conv2d(channels, c, k, padding=k // 2)]
        layers += [nn.BatchNorm2d(c)] if p["batch_norm"] else []
        layers += [act()]
        if min(height, width) >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        channels = c
    layers.append(nn.Flatten())
    features = channels * height * width
    if p["hidden"]:
        layers += [nn.Linear(features, p["hidden"]), act()]
        features = p["hidden"]
    layers += [nn.Dropout(p["dropout"]), nn.Linear(features, out)]
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a skip connection (ResNet basic block)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def build_resnet(p: Mapping[str, Any], in_shape: list[int], out: int) -> nn.Module:
    channels, _, _ = _image_shape(in_shape, "ResNet")
    widths = p["widths"]
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU()]
    cin = widths[0]
    for stage, width in enumerate(widths):
        for block in range(p["blocks_per_stage"]):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(ResidualBlock(cin, width, stride))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(p["dropout"]), nn.Linear(cin, out)]
    return nn.Sequential(*layers)


def model_node(type_id: str, title: str, build: Callable[..., nn.Module], description: str,
               params: tuple[ParamSpec, ...], tasks: tuple[str, ...] = TABLE_TASKS,
               check: CheckFn | None = None) -> NodeSpec:
    """A model node for data of `tasks`: run builds from the connected data, rebuild from a saved config."""
    all_params = params + (SEED,)
    inputs = (PortSpec("dataset", "dataset", "Training data: sets the input shape and number of outputs",
                       tasks=tasks),)

    def make(p: Mapping[str, Any], in_shape: list[int], out: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p["seed"])
            model = build(p, in_shape, out)
        model.nodeflow_config = {"type": type_id, "version": 1, "params": dict(p),
                                 "input_shape": list(in_shape), "output_size": out}
        return model

    def run(ctx: RunContext, inputs: Mapping[str, Any], p: Mapping[str, Any]) -> dict[str, Any]:
        data = inputs["dataset"]
        model = make(p, data.input_shape, data.output_size)
        count = sum(t.numel() for t in model.parameters())
        ctx.log(f"{title}: {count:,} parameters, input {data.input_shape}, {data.output_size} outputs")
        return {"model": model}

    def rebuild(config: Mapping[str, Any]) -> nn.Module:
        params = {q.name: q.default for q in all_params} | dict(config.get("params", {}))
        return make(params, list(config["input_shape"]), int(config["output_size"]))

    return NodeSpec(type=type_id, title=title, category="Models", run=run, inputs=inputs, check=check,
                    outputs=OUTPUTS, params=all_params, description=description, rebuild=rebuild)


MLP = model_node("model.mlp", "MLP", build_mlp, "Fully connected network on flattened inputs.", (
    ParamSpec("hidden", "ints", [128, 64], "Width of each hidden layer, e.g. 128,64", min=1, max=65536),
    ACTIVATION, DROPOUT,
))
CNN = model_node("model.cnn", "CNN", build_cnn, "Small convolutional network for image data.", (
    ParamSpec("channels", "ints", [32, 64], "Channels of each conv block (each halves the size)", min=1, max=4096),
    ParamSpec("kernel_size", "int", 3, "Convolution kernel size", min=1, max=11),
    ParamSpec("hidden", "int", 128, "Width of the dense layer after the convs (0 = none)", min=0, max=65536),
    ParamSpec("batch_norm", "bool", True, "Batch normalisation after each convolution"),
    ACTIVATION, DROPOUT,
))
RESNET = model_node("model.resnet", "ResNet", build_resnet, "Residual network of basic blocks (ResNet-style).", (
    ParamSpec("widths", "ints", [16, 32, 64], "Channels of each stage; later stages halve the size", min=1, max=4096),
    ParamSpec("blocks_per_stage", "int", 1, "Residual blocks per stage", min=1, max=32),
    DROPOUT,
))

GPT = model_node("model.gpt", "GPT", build_gpt, "GPT-2 architecture (nanoGPT's): learned positions, pre-LayerNorm "
                 "blocks of causal self-attention, tied embeddings. Next-token logits for token blocks.",
                 GPT_PARAMS, tasks=(LANGUAGE_MODELLING,), check=check_gpt)

NODES = [MLP, CNN, RESNET, GPT]
