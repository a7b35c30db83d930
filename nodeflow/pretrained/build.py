"""A pretrained model built from the Pretrained node's params, and rebuilt from what a checkpoint records.

`model.nodeflow_config` holds everything a reload needs: the params, the number and names of the
labels, the pad id, and under "base" the identity of the base model (`model.nodeflow_base`, the
same dict): source, revision asked for and resolved, task, the SHA-256 of each weight file (and
the folder, for a local one). `rebuild(config)` finds that base on this machine only (a local
folder, or the hub id's snapshot at the resolved commit in the Hugging Face cache), refuses it
when a weight file differs, and applies the same freezing or LoRA adapter; the checkpoint's
state dict then fills in the trained weights.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.pretrained import CLASSIFYING
from nodeflow.pretrained.freezing import add_lora, freeze
from nodeflow.pretrained.loading import load_model, load_processor
from nodeflow.pretrained.source import Located, differs, identity, locate, relocate
from nodeflow.pretrained.wrapper import PretrainedCausalLM, PretrainedModel

TYPE = "model.pretrained"


@dataclass(frozen=True)
class Fit:
    """What the linked data says about the model it needs (all empty without a data link)."""

    labels: tuple[str, ...] = ()
    classes: int = 0
    input_shape: tuple[int, ...] = ()
    vocab: int = 0


def _num_labels(params: Mapping[str, Any], fit: Fit) -> int:
    """The head's size: the data's classes when linked (a different num_labels is refused), else the param."""
    if params["task"] not in CLASSIFYING:
        return 0
    if fit.classes and params["num_labels"] and params["num_labels"] != fit.classes:
        raise DataError(Issue(f"num_labels {params['num_labels']} does not match the data's {fit.classes} classes "
                              "(set it to 0 to take the data's)", field="num_labels"))
    return fit.classes or params["num_labels"]


def _pad_id(hf: torch.nn.Module, processor: Any) -> int | None:
    config = getattr(hf, "config", None)
    pad = getattr(processor, "pad_token_id", None) if processor is not None else None
    if pad is None and config is not None:
        pad = getattr(config, "pad_token_id", None)
        pad = pad if pad is not None else getattr(config, "eos_token_id", None)
    pad = pad[0] if isinstance(pad, list) and pad else pad
    return pad if isinstance(pad, int) else None


def _context(hf: torch.nn.Module) -> int:
    config = getattr(hf, "config", None)
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return 0


def _check_fit(task: str, hf: torch.nn.Module, fit: Fit, context: int) -> None:
    """The linked data fits the model: image size and channels, token ids within the vocabulary."""
    config = getattr(hf, "config", None)
    if task == "image-classification" and len(fit.input_shape) == 3:
        channels, size = getattr(config, "num_channels", None), getattr(config, "image_size", None)
        if isinstance(channels, int) and channels != fit.input_shape[0]:
            raise DataError(Issue(f"the model takes {channels}-channel images; the data's have "
                                  f"{fit.input_shape[0]}", field="dataset"))
        if isinstance(size, int) and tuple(fit.input_shape[1:]) != (size, size):
            raise DataError(Issue(f"the model takes {size}x{size} images; the data's are "
                                  f"{fit.input_shape[1]}x{fit.input_shape[2]} (link the processor to the image "
                                  "data node)", field="dataset"))
    vocab = getattr(config, "vocab_size", None)
    if task != "image-classification" and fit.vocab and isinstance(vocab, int) and fit.vocab > vocab:
        raise DataError(Issue(f"the data's vocabulary of {fit.vocab} tokens is larger than the model's {vocab} "
                              "(link the processor to the text data node)", field="dataset"))
    if task == "causal-lm" and context and fit.input_shape and fit.input_shape[0] > context:
        raise DataError(Issue(f"the data's blocks are {fit.input_shape[0]} tokens, longer than the model's "
                              f"context of {context}", field="dataset"))


def _tensor(module: torch.nn.Module, name: str) -> list[torch.Tensor]:
    """The parameter or buffer called `name` in `module` (none when it has no such one)."""
    try:
        return [module.get_parameter(name)]
    except AttributeError:
        try:
            return [module.get_buffer(name)]
        except AttributeError:
            return []


def make(params: Mapping[str, Any], located: Located, fit: Fit, base: dict[str, Any] | None = None) -> tuple[
        PretrainedModel, Any]:
    """(model, processor) from the folder found; `base`: the identity recorded, on a rebuild."""
    task, trust = params["task"], bool(params["trust_remote_code"])
    num_labels = _num_labels(params, fit)
    label = located.source if located.hub else str(located.folder)
    with torch.random.fork_rng(devices=[]):  # new head and adapter weights: the same for the same seed
        torch.manual_seed(params["seed"])
        hf, new = load_model(located.folder, label, task, fit.labels, num_labels, trust)
        made = {id(t) for name in new for t in _tensor(hf, name)}  # weights not from the base's files
        processor = load_processor(located.folder, label, task, trust)
        pad = None if task == "image-classification" else _pad_id(hf, processor)
        config: Any = getattr(hf, "config", None)
        if task == "sequence-classification" and getattr(config, "pad_token_id", 0) is None:
            config.pad_token_id = pad  # GPT-2's head reads the last token that is not padding
        _check_fit(task, hf, fit, _context(hf))
        if params["lora_r"]:
            for param in hf.parameters():
                param.requires_grad_(False)
            hf = add_lora(hf, params["lora_r"], params["lora_alpha"], params["lora_dropout"], params["lora_targets"],
                          train_head=task in CLASSIFYING)
        else:
            freeze(hf, params["freeze"], params["freeze_layers"])
    kind = PretrainedCausalLM if task == "causal-lm" else PretrainedModel  # a causal LM also generates text
    model = kind(hf, task, pad, _context(hf) if task == "causal-lm" else 0)
    # saved with what trains even when frozen: only the seed makes them (model_state.trainable_state)
    model.nodeflow_new_keys = [k for k, t in model.state_dict(keep_vars=True).items() if id(t) in made]
    base = base or identity(located, params["revision"], task)
    names = getattr(model.base_model().config, "id2label", None) or {}
    model.nodeflow_base = base
    model.nodeflow_config = {
        "type": TYPE, "version": 1, "params": dict(params), "base": base, "num_labels": num_labels,
        "labels": [str(names[i]) for i in sorted(names)] if num_labels else [], "pad_token_id": pad,
        "input_shape": list(fit.input_shape), "output_size": num_labels or fit.vocab}
    return model, processor


def build(params: Mapping[str, Any], base_dir: Path, fit: Fit) -> tuple[PretrainedModel, Any]:
    """The node's model and processor: the source found (the cache first, downloaded when online)."""
    return make(params, locate(params["source"], params["revision"], base_dir), fit)


def rebuild_with_processor(config: Mapping[str, Any]) -> tuple[PretrainedModel, Any]:
    """The recorded model (untrained head and adapter: the checkpoint's weights go in next) and its
    processor, from this machine only; the base refused when its weight files differ from the record."""
    params, base = dict(config.get("params") or {}), dict(config.get("base") or {})
    if params.get("trust_remote_code"):
        raise DataError(Issue("this checkpoint's base model runs its own Python code (trust_remote_code); "
                              "rebuilding it from a checkpoint is not supported", field="trust_remote_code"))
    located = relocate(base)
    why = differs(base, located)
    if why:
        raise DataError(Issue(why, field="source"))
    labels = tuple(str(n) for n in config.get("labels") or ())
    fit = Fit(labels, int(config.get("num_labels") or 0), tuple(config.get("input_shape") or ()),
              int(config.get("output_size") or 0) if not config.get("num_labels") else 0)
    return make(params | {"num_labels": fit.classes}, located, fit, base)


def rebuild(config: Mapping[str, Any]) -> PretrainedModel:
    return rebuild_with_processor(config)[0]
