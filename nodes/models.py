"""Model nodes: MLP, CNN, ResNet, UNet, and the transformer families (GPT, modern, BERT, ViT, CLIP).

Each model carries `nodeflow_config` (type, params, input shape, output size, and the
vocabulary and text length where the data has them): enough for `restore_model` to
rebuild it from a checkpoint without the workflow file.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.spec import CheckFn, NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import (CLASSIFICATION, CONTRASTIVE, LANGUAGE_MODELLING, SEGMENTATION,
                                 SEQUENCE_CLASSIFICATION, TABLE_TASKS)
from nodes.encoders import BERT_PARAMS, CLIP_PARAMS, VIT_PARAMS, build_bert, build_clip, build_vit, check_heads
from nodes.gpt import GPT_PARAMS, build_gpt, check_gpt
from nodes.modern import MODERN_PARAMS, build_modern, check_modern

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU,
}
OUTPUTS = (PortSpec("model", "model", "The untrained model"),)
ACTIVATION = ParamSpec("activation", "choice", "relu", "Non-linearity", choices=tuple(ACTIVATIONS))
DROPOUT = ParamSpec("dropout", "float", 0.0, "Dropout before the last layer", min=0.0, max=0.9)
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


def build_mlp(p: Mapping[str, Any], shape: Shape) -> nn.Module:
    in_shape, out = shape.input, shape.out
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


def build_cnn(p: Mapping[str, Any], shape: Shape) -> nn.Module:
    channels, height, width = _image_shape(shape.input, "CNN")
    out = shape.out
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


RESNET_PRESETS = {"resnet20": 3, "resnet32": 5, "resnet56": 9}  # He et al.'s CIFAR nets: 16/32/64, n blocks


def build_resnet(p: Mapping[str, Any], shape: Shape) -> nn.Module:
    channels, _, _ = _image_shape(shape.input, "ResNet")
    widths, blocks = p["widths"], p["blocks_per_stage"]
    if p["preset"] in RESNET_PRESETS:
        widths, blocks = [16, 32, 64], RESNET_PRESETS[p["preset"]]
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU()]
    cin = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(ResidualBlock(cin, width, stride))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(p["dropout"]), nn.Linear(cin, shape.out)]
    return nn.Sequential(*layers)


def build_unet(p: Mapping[str, Any], shape: Shape) -> nn.Module:
    """MONAI's UNet (residual units, strided convolutions), imported only when one is built."""
    channels, height, width = _image_shape(shape.input, "UNet")
    step = 2 ** (len(p["channels"]) - 1)
    if len(p["channels"]) < 2 or height % step or width % step:
        raise DataError(Issue(f"{len(p['channels'])} levels need at least 2 levels and images whose sides divide "
                              f"by {step}; got {height}x{width}", field="channels"))
    from monai.networks.nets import UNet

    return UNet(spatial_dims=2, in_channels=channels, out_channels=shape.out, channels=tuple(p["channels"]),
                strides=(2,) * (len(p["channels"]) - 1), num_res_units=p["res_units"], dropout=p["dropout"])


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
        model.nodeflow_config = {"type": type_id, "version": 1, "params": dict(p), **shape.config()}
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
    ParamSpec("preset", "choice", "custom", "resnet20/32/56: He et al.'s CIFAR networks (16/32/64 channels, "
              "3/5/9 blocks per stage), overriding widths and blocks_per_stage",
              choices=("custom", *RESNET_PRESETS)),
    ParamSpec("widths", "ints", [16, 32, 64], "Channels of each stage; later stages halve the size", min=1, max=4096),
    ParamSpec("blocks_per_stage", "int", 1, "Residual blocks per stage", min=1, max=32),
    DROPOUT,
))

GPT = model_node("model.gpt", "GPT", build_gpt, "GPT-2 architecture (nanoGPT's): learned positions, pre-LayerNorm "
                 "blocks of causal self-attention, tied embeddings. Next-token logits for token blocks.",
                 GPT_PARAMS, tasks=(LANGUAGE_MODELLING,), check=check_gpt)

MODERN = model_node("model.modern_transformer", "ModernTransformer", build_modern,
                    "Decoder-only transformer, Llama-style: rotary positions (RoPE), RMSNorm, SwiGLU MLP, optional "
                    "grouped-query attention. Next-token logits for token blocks.",
                    MODERN_PARAMS, tasks=(LANGUAGE_MODELLING,), check=check_modern)
BERT = model_node("model.bert", "BERT", build_bert, "BERT-style encoder: bidirectional attention with padding "
                  "masked out, a [CLS] vector whose final state classifies the text.",
                  BERT_PARAMS, tasks=(SEQUENCE_CLASSIFICATION,), check=check_heads)
VIT = model_node("model.vit", "ViT", build_vit, "Vision transformer: square patches embedded, a class token, "
                 "a transformer encoder, the class token classifies the image.",
                 VIT_PARAMS, tasks=(CLASSIFICATION,), check=check_heads)
CLIP = model_node("model.clip", "CLIP", build_clip, "Image and text encoders projected into one space with a "
                  "learnable temperature; trained with the symmetric contrastive loss.",
                  CLIP_PARAMS, tasks=(CONTRASTIVE,), check=check_heads)
UNET = model_node("model.unet", "UNet", build_unet, "MONAI's 2D UNet with residual units: class scores per pixel.", (
    ParamSpec("channels", "ints", [16, 32, 64, 128], "Channels of each level (each halves the size)", min=1,
              max=4096),
    ParamSpec("res_units", "int", 2, "Residual units per level (0: plain convolutions)", min=0, max=8),
    ParamSpec("dropout", "float", 0.0, "Dropout in each unit", min=0.0, max=0.9),
), tasks=(SEGMENTATION,))

NODES = [MLP, CNN, RESNET, UNET, GPT, MODERN, BERT, VIT, CLIP]
