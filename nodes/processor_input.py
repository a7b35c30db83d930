"""The `processor` input of the data nodes: a pretrained model's tokenizer or image processor.

Linked (from the Pretrained node), text nodes tokenize with the model's own tokenizer (their
vocabulary is then the tokenizer's) and ImageFolder takes the image size, mean and std from the
image processor, so the data fits the model without setting anything twice. transformers is
never imported here: the processor arrives as an object and is used through its own methods.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.spec import CheckInput, ParamSpec, PortSpec

TOKENIZER, IMAGE_PROCESSOR = "tokenizer", "image processor"  # the kinds a processor link carries
TOKENIZER_INPUT = PortSpec("processor", "processor", "A pretrained model's tokenizer (Pretrained.processor): "
                           "the text is tokenized with it", optional=True, tasks=(TOKENIZER,))
IMAGE_INPUT = PortSpec("processor", "processor", "A pretrained model's image processor (Pretrained.processor): "
                       "image size, mean and std come from it", optional=True, tasks=(IMAGE_PROCESSOR,))
TEXT_TOKENIZER = ParamSpec("tokenizer", "choice", "auto", "auto: the linked processor's tokenizer, else char; "
                           "char: one id per character; bpe: byte-level BPE trained on the training text "
                           "(tokenizers library)", choices=("auto", "char", "bpe"))
UNLIMITED = 1_000_000  # model_max_length above this means "not set" in transformers


def check_tokenizer_param(c: CheckInput) -> list[tuple[str, str]]:
    """A linked processor and a tokenizer chosen on the node are two tokenizers: refused, both named."""
    if "processor" not in c.linked_inputs or c.params["tokenizer"] == "auto":
        return []
    source = c.input_from.get("processor", "the linked processor")
    return [("tokenizer", f"tokenizer is {c.params['tokenizer']!r} but {source} brings the model's own "
                          "tokenizer: set tokenizer to auto, or unlink the processor")]


def kind(processor: Any) -> str:
    if hasattr(processor, "convert_tokens_to_ids") and callable(processor):
        return TOKENIZER
    if hasattr(processor, "image_mean") or hasattr(processor, "crop_size") or hasattr(processor, "do_resize"):
        return IMAGE_PROCESSOR
    return type(processor).__name__


def kind_for_task(params: Mapping[str, Any]) -> tuple[str, ...]:
    """What a Pretrained node's processor output gives for its params: its task says (image
    classification: an image processor; the text tasks: a tokenizer). Validation and the
    canvas check processor links against it, before anything loads."""
    return (IMAGE_PROCESSOR,) if params.get("task") == "image-classification" else (TOKENIZER,)


def _origin(processor: Any) -> str:
    what, where = kind(processor), getattr(processor, "name_or_path", "")
    return f"the {what} of {where}" if where else f"{'an' if what[0] in 'aeiou' else 'a'} {what} " \
        f"({type(processor).__name__})"


def _wants(processor: Any, wanted: str, node: str) -> None:  # the last guard: validation refuses this first
    if kind(processor) != wanted:
        article = "an" if wanted[0] in "aeiou" else "a"
        raise DataError(Issue(f"{node} takes {article} {wanted} on its processor input, but the linked Pretrained "
                              f"node gives {_origin(processor)}", node=node, field="processor"))


class PretrainedTokenizer:
    """A transformers tokenizer as NodeFlow's tokenizers are used (kind, vocab_size, encode, to_json)."""

    kind = "pretrained"

    def __init__(self, tokenizer: Any, node: str):
        _wants(tokenizer, "tokenizer", node)
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise DataError(Issue(f"{node}: {_origin(tokenizer)} is not a fast tokenizer (tokenizer.json); "
                                  "only fast tokenizers travel inside checkpoints", node=node, field="processor"))
        self.tokenizer, self.node, self.backend = tokenizer, node, backend

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def context(self) -> int:
        """The longest input the tokenizer's model takes (0: not said)."""
        length = getattr(self.tokenizer, "model_max_length", 0) or 0
        return int(length) if length < UNLIMITED else 0

    def encode(self, text: str) -> list[int]:
        """Running text (a corpus): no special tokens around it, no length limit."""
        return list(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def rows(self, texts: Sequence[str], length: int) -> torch.Tensor:
        """[N, length] ids as the tokenizer makes them for a model: special tokens, padded and cut."""
        if self.tokenizer.pad_token is None:
            raise DataError(Issue(f"{self.node}: {_origin(self.tokenizer)} has no padding token, needed to pad "
                                  f"texts to max_length {length}", node=self.node, field="processor"))
        ids = self.tokenizer(list(texts), max_length=length, padding="max_length", truncation=True)["input_ids"]
        return torch.tensor(ids, dtype=torch.int64)

    def to_json(self) -> str:
        """The tokenizer as checkpoints carry it: decoding (Predict, Generate) reads it back as a
        `tokenizers` tokenizer, which has the same ids."""
        return json.dumps({"kind": self.kind, "tokenizer": self.backend.to_str(),
                           "source": str(getattr(self.tokenizer, "name_or_path", ""))})


def tokenizer_from(inputs: Mapping[str, Any], node: str) -> PretrainedTokenizer | None:
    processor = inputs.get("processor")
    return PretrainedTokenizer(processor, node) if processor is not None else None


def image_settings(inputs: Mapping[str, Any], node: str) -> tuple[int, tuple[float, ...], tuple[float, ...]] | None:
    """(size, mean, std) of the linked image processor, or None when none is linked (std 1 and
    mean 0: the processor does not normalize)."""
    processor = inputs.get("processor")
    if processor is None:
        return None
    _wants(processor, "image processor", node)
    size = dict(getattr(processor, "size", None) or {})
    sides = {size.get("height"), size.get("width")} - {None} or {size.get("shortest_edge")} - {None}
    crop = dict(getattr(processor, "crop_size", None) or {}) if getattr(processor, "do_center_crop", False) else {}
    sides = {crop.get("height"), crop.get("width")} - {None} or sides
    if len(sides) != 1 or not isinstance(side := next(iter(sides)), int):
        raise DataError(Issue(f"{node}: {_origin(processor)} gives no square image size ({size or 'none'}); "
                              "ImageFolder makes square images", node=node, field="processor"))
    normalize = bool(getattr(processor, "do_normalize", False))
    mean = tuple(float(v) for v in (getattr(processor, "image_mean", None) or ())) if normalize else ()
    std = tuple(float(v) for v in (getattr(processor, "image_std", None) or ())) if normalize else ()
    return side, mean or (0.0,), std or (1.0,)
