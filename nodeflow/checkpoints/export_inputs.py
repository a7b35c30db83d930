"""What an exported model takes: the graphs a checkpoint's model becomes and a batch for each.

A graph is a module with one input: images or features (float32), or token ids (int64) for
the text families. The batch is built from the checkpoint's own description of its data (the
task, the input shape, the vocabulary), seeded: random values for images and features, ids
within the vocabulary for text, padded at the end like real text for the encoders that mask
padding (BERT, CLIP's text encoder). CLIP becomes two graphs, its image and text encoders.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.tasks import CONTRASTIVE, LANGUAGE_MODELLING, SEQUENCE_CLASSIFICATION, TOKEN_INPUTS
from nodeflow.checkpoints.torch_files import model_config_of

TASK_OF_TYPE = {"model.gpt": LANGUAGE_MODELLING, "model.modern_transformer": LANGUAGE_MODELLING,
                "model.bert": SEQUENCE_CLASSIFICATION, "model.clip": CONTRASTIVE}


@dataclass(frozen=True)
class Graph:
    """One exported graph: `module` takes a batch shaped [batch, *shape]."""

    part: str  # "" for the whole model; "image" or "text" for CLIP's encoders
    module: nn.Module = field(repr=False)
    model_type: str
    shape: tuple[int, ...]
    vocab: int = 0  # > 0: the input is token ids below it (0 is padding)
    padded: bool = False  # rows end in padding, as the data's do

    @property
    def input_name(self) -> str:
        return "ids" if self.vocab else "input"

    def batch(self, size: int, seed: int = 0) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        if not self.vocab:
            return torch.randn((size, *self.shape), generator=generator)
        ids = torch.randint(1, max(2, self.vocab), (size, *self.shape), generator=generator)
        length = self.shape[-1]
        for row in range(size if self.padded else 0):
            cut = (row * 3) % max(1, length // 2)  # rows of different lengths, none empty
            if cut:
                ids[row, length - cut:] = 0
        return ids

    def output_shapes(self) -> list[tuple[int, ...]]:
        with torch.no_grad():
            return [tuple(t.shape[1:]) for t in outputs_of(self.module(self.batch(1)))]

    def output_names(self) -> list[str]:
        count = len(self.output_shapes())
        base = f"{self.part}_embedding" if self.part else "output"
        return [base] if count == 1 else [f"{base}_{i}" for i in range(count)]

    def title(self) -> str:
        return f"CLIP's {self.part} encoder ({self.model_type})" if self.part else self.model_type

    def describe(self) -> dict[str, Any]:
        """The inputs and outputs a deployment feeds and reads, for DEST.json."""
        dtype = "int64" if self.vocab else "float32"
        outputs = [{"name": n, "shape": ["batch", *s], "dtype": "float32"}
                   for n, s in zip(self.output_names(), self.output_shapes())]
        inputs = [{"name": self.input_name, "shape": ["batch", *self.shape], "dtype": dtype}
                  | ({"vocab_size": self.vocab, "padding_id": 0} if self.vocab else {})]
        return {"inputs": inputs, "outputs": outputs}

    def signature(self) -> str:
        outputs = ", ".join(f"{n} {list(('batch', *s))}" for n, s in zip(self.output_names(), self.output_shapes()))
        dtype = "int64" if self.vocab else "float32"
        return f"{self.input_name} {list(('batch', *self.shape))} {dtype} -> {outputs}".replace("'", "")


def outputs_of(value: Any) -> list[torch.Tensor]:
    """A model's output as a flat list of tensors (a tensor, or a tuple/list of them)."""
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for item in value for t in outputs_of(item)]


def graphs_of(model: nn.Module, checkpoint: dict[str, Any], label: str) -> list[Graph]:
    """The graphs to export for the model rebuilt from `checkpoint`; one line says why when there are none."""
    config = model_config_of(checkpoint, Path(label))
    data = (checkpoint.get("config") or {}).get("data") or {}
    model_type = str(config.get("type", "?"))
    task = data.get("task") or TASK_OF_TYPE.get(model_type, "")
    shape = config.get("input_shape") or data.get("input_shape")
    if not shape:
        raise CheckpointError(Issue(f"cannot export {model_type}: its config gives no input shape", file=label))
    shape = tuple(int(d) for d in shape)
    vocab = int(config.get("vocab_size") or data.get("vocab_size") or 0)
    if model_type == "model.clip":
        length = int(config.get("text_length") or data.get("caption_length") or 0)
        image, text = cast(nn.Module, model.image), cast(nn.Module, model.text)  # CLIP's two towers
        return [Graph("image", image, model_type, shape),
                Graph("text", text, model_type, (length,), vocab=vocab, padded=True)]
    if task == CONTRASTIVE:
        raise CheckpointError(Issue(f"cannot export {model_type}: a contrastive model takes images and captions "
                                    "together, and only the built-in CLIP splits into an image and a text encoder "
                                    "to export one by one", file=label))
    if task in TOKEN_INPUTS:
        vocab = vocab or int(config.get("output_size") or 0)
        if vocab < 2:
            raise CheckpointError(Issue(f"cannot export {model_type}: its config gives no vocabulary size",
                                        file=label))
        return [Graph("", model, model_type, shape, vocab=vocab, padded=task == SEQUENCE_CLASSIFICATION)]
    return [Graph("", model, model_type, shape)]
