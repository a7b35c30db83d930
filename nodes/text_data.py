"""Text dataset nodes: TextFile (language modelling) and TextClassification (CSV of texts and labels).

Token ids are small, so both hold them in memory (the loop's fast path). The tokenizer is
trained on the training text only and travels as JSON inside every checkpoint.
"""
from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.params import resolve_path
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import LANGUAGE_MODELLING, SEQUENCE_CLASSIFICATION
from nodeflow.training.data import DataBundle, make_bundle
from nodeflow.training.tokenizer import BPETokenizer, CharTokenizer, make_tokenizer
from nodes.processor_input import TEXT_TOKENIZER, TOKENIZER_INPUT, PretrainedTokenizer, check_tokenizer_param, \
    tokenizer_from

TOKENIZER_PARAMS = (
    ParamSpec("tokenizer", "choice", "char", "char: one id per character; bpe: byte-level BPE trained on "
              "the training text (tokenizers library)", choices=("char", "bpe")),
    ParamSpec("vocab_size", "int", 512, "BPE vocabulary size (bpe only)", min=260, max=100_000),
)
TEXT_TOKENIZER_PARAMS = (TEXT_TOKENIZER, TOKENIZER_PARAMS[1])  # nodes with a processor input: auto is theirs
BLOCK = ParamSpec("block_size", "int", 64, "Tokens per training block (the model's context length)",
                  min=2, max=100_000)
STRIDE = ParamSpec("stride", "int", 0, "A training block starts every this many tokens (0: block_size, no "
                   "overlap; 1: at every position, as nanoGPT samples)", min=0, max=100_000)
VAL_FRACTION = ParamSpec("val_fraction", "float", 0.1, "Share of the text, from its end, held out for "
                         "validation (nanoGPT: the first 90 % trains)", min=0.0, max=0.9)
LM_OUTPUTS = (
    PortSpec("train", "dataset", "Token blocks for training", tasks=(LANGUAGE_MODELLING,)),
    PortSpec("val", "dataset", "Token blocks for validation (empty when val_fraction is 0)", optional=True,
             tasks=(LANGUAGE_MODELLING,)),
)


def tokenizer_for(params: Mapping[str, Any], text: str) -> CharTokenizer | BPETokenizer:
    return make_tokenizer(params["tokenizer"], text, params["vocab_size"])


def encode_rows(tokenizer: Any, texts: Sequence[str], length: int) -> torch.Tensor:
    """[N, length] ids, cut or padded with 0."""
    ids = torch.zeros(len(texts), length, dtype=torch.int64)
    for row, text in enumerate(texts):
        encoded = tokenizer.encode(text)[:length]
        ids[row, :len(encoded)] = torch.tensor(encoded, dtype=torch.int64)
    return ids


def _blocks(ids: torch.Tensor, block: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Blocks starting every `stride` tokens: x = ids[i*S : i*S+T], y = the same shifted by one token.

    Views of `ids` (unfold), not copies: with stride 1 there is a block at every position and
    the text is still held once; a batch gathers its blocks when the loop indexes them."""
    return ids[:-1].unfold(0, block, stride), ids[1:].unfold(0, block, stride)


def language_data(text: str, params: Mapping[str, Any], name: str,
                  pretrained: PretrainedTokenizer | None = None) -> tuple[DataBundle, DataBundle | None]:
    """Train and val blocks of `text`, split by position (first 1 - val_fraction trains); tokenized
    by `pretrained` (a linked processor) or by a tokenizer trained on the training part."""
    cut = int(len(text) * (1 - params["val_fraction"]))
    train_text, val_text = text[:cut], text[cut:]
    tokenizer = pretrained or tokenizer_for(params, train_text)
    block = params["block_size"]
    if pretrained and pretrained.context and block > pretrained.context:
        raise DataError(Issue(f"{name}: block_size {block} is longer than the {pretrained.context} tokens the "
                              "linked processor's model takes", field="block_size"))
    info = {"tokenizer": tokenizer.to_json(), "vocab_size": tokenizer.vocab_size, "block_size": block,
            "tokenizer_kind": tokenizer.kind}
    parts: list[DataBundle | None] = []
    for part, words in (("train", train_text), ("val", val_text)):
        ids = torch.tensor(tokenizer.encode(words), dtype=torch.int64)
        if len(ids) <= block:
            if part == "val" and not params["val_fraction"]:
                parts.append(None)
                continue
            raise DataError(Issue(f"{name}: the {part} text is {len(ids)} tokens, not enough for one block of "
                                  f"block_size {block} (+1 target token)", field="block_size"))
        stride = (params.get("stride") or block) if part == "train" else block  # val: each token scored once
        x, y = _blocks(ids, block, stride)
        parts.append(make_bundle(x, y, LANGUAGE_MODELLING, (), f"{name}/{part}", info, contiguous=False))
    train, val = parts
    assert train is not None  # only the val part may be left out
    return train, val


# --- TextFile -----------------------------------------------------------------------------

def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(Issue(f"cannot read {path}: {exc}", field="path")) from None


def check_text_file(c: CheckInput) -> list[tuple[str, str]]:
    if problems := check_tokenizer_param(c):
        return problems
    path = resolve_path(c.params["path"], c.base_dir)
    try:
        size = path.stat().st_size
    except OSError as exc:
        return [("path", f"cannot read {path}: {exc}")]
    if size == 0:
        return [("path", f"{path.name} is empty")]
    usable = size * (1 - c.params["val_fraction"])
    if c.params["block_size"] + 1 > usable:
        return [("block_size", f"block_size {c.params['block_size']} is larger than the training text of "
                               f"{path.name} (about {int(usable)} characters)")]
    return []


def run_text_file(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    path = resolve_path(params["path"], Path(ctx.base_dir))
    text = _read_text(path)
    if not text.strip():
        raise DataError(Issue(f"{path.name} is empty", field="path"))
    train, val = language_data(text, params, path.stem, tokenizer_from(inputs, ctx.node_name))
    ctx.log(f"{path.name}: {len(text):,} characters; {len(train)} train and {len(val) if val else 0} val blocks "
            f"of {params['block_size']} tokens; vocabulary {train.info['vocab_size']}")
    return {"train": train, "val": val}


TEXT_FILE = NodeSpec(
    type="data.text_file", title="TextFile", category="Data", run=run_text_file, check=check_text_file,
    inputs=(TOKENIZER_INPUT,), outputs=LM_OUTPUTS, empty_outputs=lambda p: {"val"} if p["val_fraction"] == 0 else set(),
    description="A plain-text corpus cut into block_size token blocks for next-token prediction.",
    params=(ParamSpec("path", "file", "", "UTF-8 text file, relative to the workflow file"),
            BLOCK, STRIDE, VAL_FRACTION, *TEXT_TOKENIZER_PARAMS),
)


# --- TextClassification -------------------------------------------------------------------

def _table(path: Path, text_col: str, label_col: str) -> tuple[list[tuple[int, str, str]], str]:
    """(line, text, label) rows, or a reason naming the file and line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], f"cannot read {path}: {exc}"
    header = rows[0] if rows else []
    for column in (text_col, label_col):
        if column not in header:
            return [], f"no column {column!r} in {path.name} (columns: {', '.join(header) or 'none'})"
    t, lab = header.index(text_col), header.index(label_col)
    found = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(t, lab) or not row[t].strip():
            return [], f"{path.name} line {line}: empty {text_col!r} cell"
        found.append((line, row[t], row[lab].strip()))
    return found, "" if found else f"{path.name} has a header but no rows"


def check_text_classification(c: CheckInput) -> list[tuple[str, str]]:
    p = c.params
    if problems := check_tokenizer_param(c):
        return problems
    _, problem = _table(resolve_path(p["path"], c.base_dir), p["text_column"], p["label_column"])
    return [("path", problem)] if problem else []


def run_text_classification(ctx: RunContext, inputs: Mapping[str, Any],
                            params: Mapping[str, Any]) -> dict[str, Any]:
    path = resolve_path(params["path"], Path(ctx.base_dir))
    rows, problem = _table(path, params["text_column"], params["label_column"])
    if problem:
        raise DataError(Issue(problem, field="path"))
    return {"dataset": text_classes([r[1] for r in rows], [r[2] for r in rows], params, path.stem,
                                    tokenizer_from(inputs, ctx.node_name))}


def text_classes(texts: Sequence[str], labels: Sequence[str], params: Mapping[str, Any], name: str,
                 pretrained: PretrainedTokenizer | None = None) -> DataBundle:
    """Token ids [N, max_length] and class ids; tokenized by `pretrained` (special tokens, its padding)
    when a processor is linked, else by a tokenizer trained on the texts (padded with 0)."""
    names = tuple(sorted(set(labels)))
    if len(names) < 2:
        raise DataError(Issue(f"{name}: every row has the label {names[0]!r}; need at least 2 classes",
                              field="label_column"))
    tokenizer = pretrained or tokenizer_for(params, "\n".join(texts))
    ids = pretrained.rows(texts, params["max_length"]) if pretrained else encode_rows(tokenizer, texts,
                                                                                      params["max_length"])
    info = {"tokenizer": tokenizer.to_json(), "vocab_size": tokenizer.vocab_size,
            "max_length": params["max_length"], "tokenizer_kind": tokenizer.kind}
    return make_bundle(ids, [names.index(label) for label in labels], SEQUENCE_CLASSIFICATION, names, name, info)


MAX_LENGTH = ParamSpec("max_length", "int", 64, "Tokens per text (padded with 0 or cut)", min=2, max=100_000)

TEXT_CLASSIFICATION = NodeSpec(
    type="data.text_classification", title="TextClassification", category="Data",
    run=run_text_classification, check=check_text_classification, inputs=(TOKENIZER_INPUT,),
    outputs=(PortSpec("dataset", "dataset", "Token ids and labels", tasks=(SEQUENCE_CLASSIFICATION,)),),
    description="A CSV with a text column and a label column: token ids → label.",
    params=(
        ParamSpec("path", "file", "", "CSV file, relative to the workflow file"),
        ParamSpec("text_column", "str", "text", "Column holding the text"),
        ParamSpec("label_column", "str", "label", "Column holding the label"),
        MAX_LENGTH, *TEXT_TOKENIZER_PARAMS,
    ),
)

NODES = [TEXT_FILE, TEXT_CLASSIFICATION]
