"""Text from a language-model checkpoint, decoded with the tokenizer stored inside it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.checkpoints.torch_files import restore_model
from nodeflow.training.tokenizer import load_tokenizer


def load_generator(path: str | Path, device: str = "cpu", trust: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) of a checkpoint whose model can generate (GPT); `trust`: the file may run code
    (restore_model's trust and trust_code)."""
    model, checkpoint = restore_model(path, device, trust=trust, trust_code=trust)
    tokenizer = ((checkpoint.get("config") or {}).get("data") or {}).get("tokenizer")
    if not hasattr(model, "generate") or not tokenizer:
        kind = getattr(model, "nodeflow_config", {}).get("type", type(model).__name__)
        raise CheckpointError(Issue(f"cannot generate text: it holds a {kind} without a tokenizer; generate "
                                    "needs a language model trained on text (GPT)", file=str(path)))
    return model, load_tokenizer(tokenizer)


def sample(model: Any, tokenizer: Any, prompt: str, new_tokens: int, temperature: float = 0.8,
           top_k: int = 200, seed: int = 0) -> str:
    """The prompt and `new_tokens` sampled tokens after it, as text; the same seed gives the same text."""
    ids, pad = tokenizer.encode(prompt or "\n"), tokenizer.pad_id
    if not ids or (pad is not None and pad in ids):  # padding stands for what the tokenizer never saw
        unknown = sorted({c for c in prompt if pad in tokenizer.encode(c)})
        raise CheckpointError(Issue(f"the prompt has characters the model never saw in training: "
                                    f"{''.join(unknown)!r}", field="--prompt"))
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    start = torch.tensor([ids], dtype=torch.int64, device=device)
    out = model.generate(start, new_tokens, temperature, top_k, generator)
    return tokenizer.decode(out[0].tolist())


def epoch_samples(model: Any, data: Any, count: int, seed: int, new_tokens: int = 100) -> list[str]:
    """`count` texts for the history files: each continues the first tokens of a block of `data`.

    Uses its own seeded generator, so the training's random streams (and exact resume) are untouched."""
    tokenizer = load_tokenizer(data.info["tokenizer"]) if "tokenizer" in data.info else None
    if tokenizer is None or not len(data):
        return []
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    blocks = [data.sample(i * len(data) // count)[0] for i in range(count)]
    starts = torch.stack([block[:min(8, *map(len, blocks))] for block in blocks]).to(device)
    out = model.generate(starts, new_tokens, 0.8, 200, generator)  # all texts at once: one pass per token
    model.train(was_training)
    return [tokenizer.decode(row.tolist()) for row in out]
