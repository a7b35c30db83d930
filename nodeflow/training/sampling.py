"""Text sampling shared by the language models (GPT, ModernTransformer, a Pretrained causal LM)."""
from __future__ import annotations

import math

import torch


class Sampler:
    """`generate` for language models with a `block_size` whose forward gives next-token logits."""

    block_size: int

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, new_tokens: int, temperature: float = 1.0, top_k: int = 0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append `new_tokens` sampled tokens to each row of `ids` (greedy at temperature 0); the model
        reads the last `block_size` tokens (0: all of them)."""
        for _ in range(new_tokens):
            logits = self(ids[:, -self.block_size:])[:, -1, :].float()  # type: ignore[operator]
            if temperature <= 0:
                following = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k:
                    floor = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                    logits = logits.masked_fill(logits < floor, -math.inf)
                following = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)
            ids = torch.cat([ids, following], dim=1)
        return ids
