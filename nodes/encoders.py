"""Transformer encoders in plain torch: BERT-style text classifier, ViT, and CLIP built from both.

All use the pre-LayerNorm blocks of nodes/gpt.py with bidirectional attention. A learned
[CLS] vector is put before the tokens or patches; its final state is what the head sees.
Text: token id 0 is padding, masked out of attention. Images: non-overlapping square patches
embedded by a strided convolution.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.spec import CheckInput, ParamSpec
from nodeflow.core.tasks import CLASSIFICATION, CONTRASTIVE, SEQUENCE_CLASSIFICATION
from nodes.model_node import model_node
from nodes.gpt import Block, gpt2_init


class Encoder(nn.Module):
    """[CLS] + embedded steps + learned positions → blocks → LayerNorm → head on [CLS]."""

    def __init__(self, steps: int, layers: int, heads: int, width: int, dropout: float, out: int):
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.positions = nn.Parameter(torch.zeros(1, steps + 1, width))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(width, heads, dropout, True, causal=False) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, out)
        gpt2_init(self, layers)
        nn.init.normal_(self.positions, 0.0, 0.02)

    def encode(self, steps: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.cat([self.cls.expand(len(steps), -1, -1), steps], dim=1)
        x = self.drop(x + self.positions[:, :x.shape[1]])
        if keep is not None:
            keep = torch.cat([keep.new_ones(len(keep), 1), keep], dim=1)  # [CLS] is never padding
        for block in self.blocks:
            x = block(x, keep)
        return self.head(self.norm(x[:, 0]))


class TextEncoder(Encoder):
    """Token ids [batch, length] (0 = padding) → [batch, out]."""

    def __init__(self, vocab: int, length: int, layers: int, heads: int, width: int, dropout: float, out: int):
        super().__init__(length, layers, heads, width, dropout, out)
        self.tokens = nn.Embedding(vocab, width)
        nn.init.normal_(self.tokens.weight, 0.0, 0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encode(self.tokens(ids), ids != 0)


class ImageEncoder(Encoder):
    """Images [batch, channels, H, W] → patches → [batch, out] (ViT)."""

    def __init__(self, channels: int, size: int, patch: int, layers: int, heads: int, width: int,
                 dropout: float, out: int):
        super().__init__((size // patch) ** 2, layers, heads, width, dropout, out)
        self.patches = nn.Conv2d(channels, width, patch, stride=patch)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode(self.patches(images).flatten(2).transpose(1, 2))


class ConvEncoder(nn.Module):
    """A small CNN image tower for CLIP: conv blocks that halve the size, pooled, projected."""

    def __init__(self, channels: int, width: int, out: int):
        super().__init__()
        layers: list[nn.Module] = []
        for c in (width // 4, width // 2, width):
            layers += [nn.Conv2d(channels, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            channels = c
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, out))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)


class CLIP(nn.Module):
    """Image and text towers projected to one space; (image_emb, text_emb, log logit scale)."""

    def __init__(self, image: nn.Module, text: nn.Module):
        super().__init__()
        self.image, self.text = image, text
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature

    def forward(self, images: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.image(images), self.text(ids), self.logit_scale.clamp(max=math.log(100))


# --- builders -----------------------------------------------------------------------------

def check_heads(c: CheckInput) -> list[tuple[str, str]]:
    if c.params["n_embd"] % c.params["n_head"]:
        return [("n_embd", f"n_embd {c.params['n_embd']} is not divisible by n_head {c.params['n_head']}")]
    return []


def _tokens_shape(in_shape: list[int], title: str) -> int:
    if len(in_shape) != 1:
        raise DataError(Issue(f"{title} needs token ids shaped [length]; got {in_shape}", field="dataset"))
    return in_shape[0]


def _patches(in_shape: list[int], patch: int, title: str) -> tuple[int, int]:
    if len(in_shape) != 3 or in_shape[1] != in_shape[2]:
        raise DataError(Issue(f"{title} needs square images shaped [channels, size, size]; got {in_shape}",
                              field="dataset"))
    if in_shape[1] % patch:
        raise DataError(Issue(f"image size {in_shape[1]} is not divisible by patch_size {patch}",
                              field="patch_size"))
    return in_shape[0], in_shape[1]


def _tower(p: Mapping[str, Any]) -> tuple[int, int, int, float]:
    return p["n_layer"], p["n_head"], p["n_embd"], p["dropout"]


def build_bert(p: Mapping[str, Any], shape: Any) -> nn.Module:
    length = _tokens_shape(shape.input, "BERT")
    return TextEncoder(shape.vocab, length, *_tower(p), shape.out)


def build_vit(p: Mapping[str, Any], shape: Any) -> nn.Module:
    channels, size = _patches(shape.input, p["patch_size"], "ViT")
    return ImageEncoder(channels, size, p["patch_size"], *_tower(p), shape.out)


def build_clip(p: Mapping[str, Any], shape: Any) -> nn.Module:
    channels, size = _patches(shape.input, p["patch_size"], "CLIP")
    if p["image_encoder"] == "cnn":
        image: nn.Module = ConvEncoder(channels, p["n_embd"], p["embed_dim"])
    else:
        image = ImageEncoder(channels, size, p["patch_size"], *_tower(p), p["embed_dim"])
    return CLIP(image, TextEncoder(shape.vocab, shape.text_length, *_tower(p), p["embed_dim"]))


def _tower_params(layers: int, width: int, dropout: float) -> tuple[ParamSpec, ...]:
    return (ParamSpec("n_layer", "int", layers, "Transformer blocks", min=1, max=96),
            ParamSpec("n_head", "int", 4, "Attention heads per block (n_embd must divide by it)", min=1, max=128),
            ParamSpec("n_embd", "int", width, "Width of the embeddings and blocks", min=8, max=16384),
            ParamSpec("dropout", "float", dropout, "Dropout in attention, MLP and embeddings", min=0.0, max=0.9))


PATCH = ParamSpec("patch_size", "int", 4, "Side of the square image patches (the image size must divide by it)",
                  min=1, max=256)
BERT_PARAMS = _tower_params(2, 64, 0.1)
VIT_PARAMS = (PATCH, *_tower_params(4, 128, 0.0))
CLIP_PARAMS = (
    ParamSpec("image_encoder", "choice", "vit", "Image tower: a ViT or a small CNN", choices=("vit", "cnn")),
    PATCH, *_tower_params(2, 64, 0.0),
    ParamSpec("embed_dim", "int", 64, "Width of the shared image-text space", min=2, max=4096),
)


BERT_NODE = model_node("model.bert", "BERT", build_bert, "BERT-style encoder: bidirectional attention with padding "
                       "masked out, a [CLS] vector whose final state classifies the text.",
                       BERT_PARAMS, tasks=(SEQUENCE_CLASSIFICATION,), check=check_heads)
VIT_NODE = model_node("model.vit", "ViT", build_vit, "Vision transformer: square patches embedded, a class token, "
                      "a transformer encoder, the class token classifies the image.",
                      VIT_PARAMS, tasks=(CLASSIFICATION,), check=check_heads)
CLIP_NODE = model_node("model.clip", "CLIP", build_clip, "Image and text encoders projected into one space with a "
                       "learnable temperature; trained with the symmetric contrastive loss.",
                       CLIP_PARAMS, tasks=(CONTRASTIVE,), check=check_heads)

NODES = [BERT_NODE, VIT_NODE, CLIP_NODE]
