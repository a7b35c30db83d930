"""A transformers model as the Trainer's tasks call models: `model(x)` gives logits.

Sequence classification: token ids [batch, length] → [batch, classes]; padding (the tokenizer's
pad id) is masked out of attention. Causal LM: token blocks [batch, T] → next-token logits
[batch, T, vocabulary], which is what the language-modelling loss compares with the data's
next tokens (logits at t predict the token at t+1, so no shift is needed). Masked LM: token ids
→ logits per position. Image classification: pixels [batch, channels, H, W] → [batch, classes].
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nodeflow.training.sampling import Sampler


class PretrainedModel(nn.Module):
    nodeflow_config: dict[str, Any]  # what a reload needs (build.py): plain values beside the tensors
    nodeflow_base: dict[str, Any]  # the base model's identity, also under nodeflow_config["base"]
    # with frozen parts, a checkpoint holds only what trains: the base comes back from its own files
    nodeflow_state = "trainable"
    nodeflow_new_keys: list[str] = []  # state-dict keys of weights the base's files lack: saved even when frozen

    def __init__(self, hf: nn.Module, task: str, pad_token_id: int | None, context: int):
        super().__init__()
        self.hf = hf  # a transformers model, or PEFT's wrapper of one
        self.task = task
        self.pad_token_id = pad_token_id
        self.block_size = context  # the longest input the model takes (0: not limited)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.task == "image-classification":
            return self.hf(pixel_values=x).logits
        kwargs: dict[str, Any] = {"input_ids": x}
        if self.task == "sequence-classification" and self.pad_token_id is not None:
            kwargs["attention_mask"] = (x != self.pad_token_id).long()
        if self.task == "causal-lm":
            kwargs["use_cache"] = False  # training scores whole blocks: no key/value cache to keep
        return self.hf(**kwargs).logits

    def base_model(self) -> nn.Module:
        """The transformers model itself (under PEFT's wrapper when there is a LoRA adapter)."""
        get_base = getattr(self.hf, "get_base_model", None)
        return get_base() if callable(get_base) else self.hf


class PretrainedCausalLM(Sampler, PretrainedModel):
    """A causal-LM PretrainedModel, which also samples text as NodeFlow's GPT does (Generate, the
    Trainer's generation samples): `generate(ids, new_tokens, temperature, top_k, generator)`."""
