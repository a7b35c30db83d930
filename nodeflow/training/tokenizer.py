"""Tokenizers: character-level (built in) and byte-level BPE (the `tokenizers` library).

Both serialise to JSON text, which travels inside every checkpoint's data description, so
Predict and text generation decode without the source files (and torch.load's
weights_only loader accepts it: it is a string). Id 0 is padding in both; a pretrained model's
tokenizer (kind "pretrained") keeps its own ids, where 0 is an ordinary token (GPT-2's "!").
"""
from __future__ import annotations

import json
from typing import Any

PAD = "<pad>"


class CharTokenizer:
    """One id per character seen in the training text; unseen characters map to padding."""

    kind = "char"
    pad_id: int | None = 0  # also what an unseen character becomes

    def __init__(self, chars: str):
        self.chars = chars
        self.lookup = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        return [self.lookup.get(c, 0) for c in text]

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[i - 1] for i in map(int, ids) if 0 < i <= len(self.chars))

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "chars": self.chars})


class BPETokenizer:
    """Byte-level BPE trained on the training text (GPT-2's scheme), `vocab_size` ids."""

    kind = "bpe"

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.pad_id: int | None = tokenizer.token_to_id(PAD)  # None: a pretrained model's, without one

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        lines = text.splitlines(keepends=True)
        tokenizer.train_from_iterator(("".join(lines[i:i + 1000]) for i in range(0, len(lines), 1000)), trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids)

    def decode(self, ids: Any) -> str:
        return str(self.tokenizer.decode([int(i) for i in ids if int(i) != self.pad_id]))

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "tokenizer": self.tokenizer.to_str()})


def make_tokenizer(kind: str, text: str, vocab_size: int) -> CharTokenizer | BPETokenizer:
    return BPETokenizer.train(text, vocab_size) if kind == "bpe" else CharTokenizer.train(text)


def load_tokenizer(text: str) -> CharTokenizer | BPETokenizer:
    """A tokenizer from its JSON text (as stored in a checkpoint's config['data']['tokenizer'])."""
    data = json.loads(text)
    if data["kind"] == "char":
        return CharTokenizer(data["chars"])
    from tokenizers import Tokenizer

    return BPETokenizer(Tokenizer.from_str(data["tokenizer"]))


def tokenizer_mismatch(trained_with: Any, data_info: Any) -> str | None:
    """Why a model trained with the data described by `trained_with` cannot read data with
    `data_info` (another tokenizer: the same ids would mean other text); None when it can."""
    ours = (trained_with or {}).get("tokenizer") if isinstance(trained_with, dict) else None
    theirs = data_info.get("tokenizer")
    if not ours or not theirs or ours == theirs:
        return None

    def label(text: str) -> str:
        tokenizer = load_tokenizer(text)
        return f"{tokenizer.kind}, {tokenizer.vocab_size} ids"

    return f"the model was trained with another tokenizer ({label(ours)}) than this data's ({label(theirs)})"
