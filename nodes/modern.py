"""The modern decoder-only transformer (Llama-style) in plain torch.

The modern transformer of the per-model metrics layout (modern_transformer/): rotary
position embeddings (RoPE) instead of learned positions, RMSNorm instead of LayerNorm, a
SwiGLU MLP, no biases, and optional grouped-query attention (fewer key/value heads than
query heads, shared by groups).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.spec import CheckInput, ParamSpec
from nodeflow.core.tasks import LANGUAGE_MODELLING
from nodes.model_node import model_node
from nodeflow.training.sampling import Sampler
from nodes.gpt import gpt2_init


def rope_tables(steps: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [steps, head_dim / 2] for rotating pairs of channels by position."""
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(steps, dtype=torch.float32), freqs)
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Apply RoPE to [batch, heads, steps, head_dim] (channel pairs (2i, 2i+1))."""
    even, odd = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    turned = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
    return turned.flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, kv_heads: int, dropout: float):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, width // heads
        self.q = nn.Linear(width, width, bias=False)
        self.kv = nn.Linear(width, 2 * kv_heads * self.head_dim, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, steps, width = x.shape
        q = self.q(x).view(batch, steps, self.heads, self.head_dim).transpose(1, 2)
        k, v = (t.view(batch, steps, self.kv_heads, self.head_dim).transpose(1, 2)
                for t in self.kv(x).chunk(2, dim=-1))
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kv_heads != self.heads,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(batch, steps, width))


class SwiGLU(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        hidden = 32 * -(-8 * width // 3 // 32)  # 8/3 x width (same parameters as a 4x MLP), rounded up to 32
        self.gate_up = nn.Linear(width, 2 * hidden, bias=False)
        self.proj = nn.Linear(hidden, width, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.drop(self.proj(F.silu(gate) * up))


class ModernBlock(nn.Module):
    def __init__(self, width: int, heads: int, kv_heads: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.RMSNorm(width), nn.RMSNorm(width)
        self.attn = Attention(width, heads, kv_heads, dropout)
        self.mlp = SwiGLU(width, dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class ModernTransformer(Sampler, nn.Module):
    cos: torch.Tensor  # rotary tables, registered as buffers
    sin: torch.Tensor

    def __init__(self, vocab: int, block_size: int, layers: int, heads: int, kv_heads: int, width: int,
                 dropout: float, theta: float):
        super().__init__()
        self.block_size = block_size
        self.tokens = nn.Embedding(vocab, width)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(ModernBlock(width, heads, kv_heads, dropout) for _ in range(layers))
        self.norm = nn.RMSNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tokens.weight
        cos, sin = rope_tables(block_size, width // heads, theta)
        self.register_buffer("cos", cos, persistent=False)  # derived from params: not in the state_dict
        self.register_buffer("sin", sin, persistent=False)
        gpt2_init(self, layers)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        steps = ids.shape[1]
        cos, sin = self.cos[:steps], self.sin[:steps]
        x = self.drop(self.tokens(ids))
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.head(self.norm(x))


def check_modern(c: CheckInput) -> list[tuple[str, str]]:
    p = c.params
    if p["n_embd"] % p["n_head"]:
        return [("n_embd", f"n_embd {p['n_embd']} is not divisible by n_head {p['n_head']}")]
    if (p["n_embd"] // p["n_head"]) % 2:
        return [("n_embd", f"the head width n_embd / n_head = {p['n_embd'] // p['n_head']} must be even for RoPE")]
    if p["n_kv_head"] and p["n_head"] % p["n_kv_head"]:
        return [("n_kv_head", f"n_head {p['n_head']} is not divisible by n_kv_head {p['n_kv_head']}")]
    return []


def build_modern(p: Mapping[str, Any], shape: Any) -> nn.Module:
    if len(shape.input) != 1:
        raise DataError(Issue(f"the modern transformer needs token blocks shaped [block_size]; got {shape.input}",
                              field="dataset"))
    block = p["block_size"] or shape.input[0]
    if shape.input[0] > block:
        raise DataError(Issue(f"the data's blocks are {shape.input[0]} tokens, longer than block_size {block}",
                              field="block_size"))
    return ModernTransformer(shape.out, block, p["n_layer"], p["n_head"], p["n_kv_head"] or p["n_head"],
                             p["n_embd"], p["dropout"], p["rope_theta"])


MODERN_PARAMS = (
    ParamSpec("n_layer", "int", 4, "Transformer blocks", min=1, max=96),
    ParamSpec("n_head", "int", 4, "Query heads per block (n_embd must divide by it)", min=1, max=128),
    ParamSpec("n_kv_head", "int", 0, "Key/value heads, shared by groups of query heads (0: one per query head; "
              "fewer: grouped-query attention)", min=0, max=128),
    ParamSpec("n_embd", "int", 128, "Width of the embeddings and blocks", min=8, max=16384),
    ParamSpec("block_size", "int", 0, "Longest context in tokens (0: the data's block size)", min=0, max=65536),
    ParamSpec("dropout", "float", 0.0, "Dropout in attention, MLP and embeddings", min=0.0, max=0.9),
    ParamSpec("rope_theta", "float", 10000.0, "Base of the rotary position frequencies", min=1.0, max=1e7),
)


MODERN_NODE = model_node("model.modern_transformer", "ModernTransformer", build_modern,
                         "Decoder-only transformer, Llama-style: rotary positions (RoPE), RMSNorm, SwiGLU MLP, "
                         "optional grouped-query attention. Next-token logits for token blocks.",
                         MODERN_PARAMS, tasks=(LANGUAGE_MODELLING,), check=check_modern)

NODES = [MODERN_NODE]
