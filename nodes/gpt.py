"""GPT (the GPT-2 architecture) in plain torch, after nanoGPT's model.py.

Learned token and position embeddings, pre-LayerNorm blocks of causal self-attention
(F.scaled_dot_product_attention) and a 4x GELU MLP, a final LayerNorm, and an output
layer that shares the token embedding's weights. Takes token blocks [batch, T] and
returns next-token logits [batch, T, vocabulary].
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.spec import CheckInput, ParamSpec
from nodeflow.core.tasks import LANGUAGE_MODELLING
from nodeflow.training.sampling import Sampler
from nodes.model_node import model_node


class SelfAttention(nn.Module):
    """Multi-head self-attention: causal (GPT) or bidirectional with an optional key mask (encoders)."""

    def __init__(self, width: int, heads: int, dropout: float, bias: bool, causal: bool = True):
        super().__init__()
        self.qkv = nn.Linear(width, 3 * width, bias=bias)
        self.proj = nn.Linear(width, width, bias=bias)
        self.heads, self.dropout, self.causal = heads, dropout, causal
        self.out_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """`keep`: [batch, steps] bool, False for padding keys no query may attend to."""
        batch, steps, width = x.shape
        q, k, v = (t.view(batch, steps, self.heads, width // self.heads).transpose(1, 2)
                   for t in self.qkv(x).split(width, dim=2))
        mask = None if keep is None else keep[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out_dropout(self.proj(y.transpose(1, 2).reshape(batch, steps, width)))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: attention, then a 4x GELU MLP, each with a residual."""

    def __init__(self, width: int, heads: int, dropout: float, bias: bool, causal: bool = True):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width, bias=bias), nn.LayerNorm(width, bias=bias)
        self.attn = SelfAttention(width, heads, dropout, bias, causal)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width, bias=bias), nn.GELU(),
                                 nn.Linear(4 * width, width, bias=bias), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), keep)
        return x + self.mlp(self.norm2(x))


def gpt2_init(model: nn.Module, layers: int) -> None:
    """GPT-2's init: N(0, 0.02) matrices, residual projections scaled down by the depth, zero biases."""
    for name, param in model.named_parameters():
        if name.endswith(".weight") and param.dim() == 2:
            std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
            nn.init.normal_(param, 0.0, std)
        elif name.endswith(".bias"):
            nn.init.zeros_(param)


class GPT(Sampler, nn.Module):
    def __init__(self, vocab: int, block_size: int, layers: int, heads: int, width: int, dropout: float,
                 bias: bool):
        super().__init__()
        self.block_size = block_size
        self.tokens, self.positions = nn.Embedding(vocab, width), nn.Embedding(block_size, width)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(width, heads, dropout, bias) for _ in range(layers))
        self.norm = nn.LayerNorm(width, bias=bias)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tokens.weight  # tied, as in GPT-2
        gpt2_init(self, layers)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        steps = ids.shape[1]
        position = torch.arange(steps, device=ids.device)
        x = self.drop(self.tokens(ids) + self.positions(position))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def check_gpt(c: CheckInput) -> list[tuple[str, str]]:
    if c.params["n_embd"] % c.params["n_head"]:
        return [("n_embd", f"n_embd {c.params['n_embd']} is not divisible by n_head {c.params['n_head']}")]
    return []


def build_gpt(p: Mapping[str, Any], shape: Any) -> nn.Module:
    in_shape, out = shape.input, shape.out
    if len(in_shape) != 1:
        raise DataError(Issue(f"GPT needs token blocks shaped [block_size]; got {in_shape}", field="dataset"))
    block = p["block_size"] or in_shape[0]
    if in_shape[0] > block:
        raise DataError(Issue(f"the data's blocks are {in_shape[0]} tokens, longer than block_size {block}",
                              field="block_size"))
    return GPT(out, block, p["n_layer"], p["n_head"], p["n_embd"], p["dropout"], p["bias"])


GPT_PARAMS = (
    ParamSpec("n_layer", "int", 4, "Transformer blocks", min=1, max=96, on_node=True),
    ParamSpec("n_head", "int", 4, "Attention heads per block (n_embd must divide by it)", min=1, max=128,
              on_node=True),
    ParamSpec("n_embd", "int", 128, "Width of the embeddings and blocks", min=8, max=16384, on_node=True),
    ParamSpec("block_size", "int", 0, "Longest context in tokens (0: the data's block size)", min=0, max=65536),
    ParamSpec("dropout", "float", 0.0, "Dropout in attention, MLP and embeddings", min=0.0, max=0.9),
    ParamSpec("bias", "bool", False, "Biases in linear layers and LayerNorms (GPT-2 has them)"),
)


GPT_NODE = model_node("model.gpt", "GPT", build_gpt, "GPT-2 architecture (nanoGPT's): learned positions, pre-LayerNorm "
                      "blocks of causal self-attention, tied embeddings. Next-token logits for token blocks.",
                      GPT_PARAMS, tasks=(LANGUAGE_MODELLING,), check=check_gpt)

NODES = [GPT_NODE]
