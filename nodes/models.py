"""Model nodes: MLP, CNN, ResNet and UNet, declared with their build functions.

The transformer families declare theirs beside their code: GPT in gpt.py, ModernTransformer
in modern.py, BERT, ViT and CLIP in encoders.py (nodes/model_node.py has what all share).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.spec import ParamSpec
from nodeflow.core.tasks import SEGMENTATION
from nodes.model_node import Shape, model_node

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU,
}
ACTIVATION = ParamSpec("activation", "choice", "relu", "Non-linearity", choices=tuple(ACTIVATIONS))
DROPOUT = ParamSpec("dropout", "float", 0.0, "Dropout before the last layer", min=0.0, max=0.9)


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

UNET = model_node("model.unet", "UNet", build_unet, "MONAI's 2D UNet with residual units: class scores per pixel.", (
    ParamSpec("channels", "ints", [16, 32, 64, 128], "Channels of each level (each halves the size)", min=1,
              max=4096),
    ParamSpec("res_units", "int", 2, "Residual units per level (0: plain convolutions)", min=0, max=8),
    ParamSpec("dropout", "float", 0.0, "Dropout in each unit", min=0.0, max=0.9),
), tasks=(SEGMENTATION,))

NODES = [MLP, CNN, RESNET, UNET]
