"""Which parameters of a pretrained model train: freezing by layer, or a LoRA adapter (PEFT).

The head is the task's output layer, a direct child of the transformers model with one of the
usual names (classifier, score, lm_head, cls, ...). The layers are the model's stack of blocks:
the list of same-class modules holding the most parameters (GPT-2's `h`, BERT's and ViT's
`encoder.layer`, ResNet's `encoder.stages`). "First N layers" freezes everything before and in
the first N blocks (the embeddings too); what comes after (final norm, pooler, head) trains.
"""
from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from nodeflow.core.errors import DataError, Issue

HEAD_NAMES = ("pre_classifier", "classifier", "score", "lm_head", "cls", "head", "fc")


def head_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_children() if name in HEAD_NAMES]


def blocks(model: nn.Module) -> nn.ModuleList | None:
    """The model's stack of blocks, or None when it has none."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) >= 2
             and len({type(child) for child in m}) == 1]
    return max(lists, key=lambda m: sum(p.numel() for p in m.parameters()), default=None)


def freeze(model: nn.Module, mode: str, layers: int) -> None:
    """Turn requires_grad off where `mode` says: 'none', 'all-but-head' or 'first-layers' (the first `layers`)."""
    if mode == "none":
        return
    heads = head_names(model)
    head_params = {id(p) for name in heads for p in model.get_submodule(name).parameters()}
    if mode == "all-but-head":
        if not heads:
            raise DataError(Issue(f"found no head ({', '.join(HEAD_NAMES)}) to leave trainable in "
                                  f"{type(model).__name__}", field="freeze"))
        for param in model.parameters():
            param.requires_grad_(id(param) in head_params)
        return
    stack = blocks(model)
    if stack is None:
        raise DataError(Issue(f"found no stack of layers in {type(model).__name__}", field="freeze"))
    if layers > len(stack):
        raise DataError(Issue(f"freeze_layers {layers} is more than the model's {len(stack)} layers",
                              field="freeze_layers"))
    last = {id(p) for p in stack[layers - 1].parameters()}
    ordered = list(model.parameters())
    end = max(i for i, p in enumerate(ordered) if id(p) in last)
    for param in ordered[:end + 1]:
        if id(param) not in head_params:
            param.requires_grad_(False)


def add_lora(model: nn.Module, r: int, alpha: int, dropout: float, targets: str, train_head: bool) -> Any:
    """`model` wrapped by PEFT with LoRA adapters on `targets` (comma-separated module names; empty:
    PEFT's defaults for the model type); the base frozen, the head trained in full when `train_head`."""
    from peft import LoraConfig, get_peft_model

    names = [t.strip() for t in targets.split(",") if t.strip()] or None
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=names,
                        modules_to_save=(head_names(model) or None) if train_head else None)
    try:
        with warnings.catch_warnings():  # GPT-2's Conv1D layers: PEFT says it transposes them, as it should
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)  # transformers renaming what PEFT calls
            return get_peft_model(model, config)
    except ValueError:
        what = "has no default layers for LoRA" if names is None else f"has no layers named {', '.join(names)}"
        raise DataError(Issue(f"{type(model).__name__} {what}; name them in lora_targets (its linear layers: "
                              f"{', '.join(linear_names(model))})", field="lora_targets")) from None


def linear_names(model: nn.Module) -> list[str]:
    """The last part of the name of each linear layer (GPT-2's Conv1D too), once each: what lora_targets names."""
    found = (name.rsplit(".", 1)[-1] for name, m in model.named_modules()
             if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D")
    return list(dict.fromkeys(found))


def counts(model: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameter counts; a tied weight counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
