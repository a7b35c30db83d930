"""Pretrains the two small models shipped in workflows/data, in Hugging Face format (deterministic).

    python workflows/data/make_pretrained.py

tiny_gpt2/: a GPT-2 (transformers' GPT2LMHeadModel) trained for next-token prediction on the
first 90 % of Tiny Shakespeare (the last 10 % is what TextFile holds out for validation), with
a byte-level BPE tokenizer trained on the same text.
tiny_bert/: a BERT (BertForMaskedLM) trained to fill in masked words of generated movie reviews
(the Reviews node's sentences, other seeds than the examples use; no labels), with a WordPiece
tokenizer. Filling in 'the plot was dull but the cast was [MASK]' needs the polarity of words and
of 'not', which is what classifying the reviews later needs.

Both tokenizers are trained here with the `tokenizers` library and saved as
PreTrainedTokenizerFast: nothing is downloaded. Id 0 is padding in both, as in NodeFlow's own
tokenizers. Each folder loads with from_pretrained(folder, local_files_only=True).
"""
from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: the Reviews generator

GPT2_STEPS, GPT2_BATCH, GPT2_BLOCK = 800, 16, 64
BERT_STEPS, BERT_BATCH, BERT_LENGTH = 1600, 64, 24
BERT_SENTENCES = 20_000


def gpt2_tokenizer(text: str) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(_chunks(text), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>", model_max_length=256)


def bert_tokenizer(texts: list[str]) -> object:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=1024, special_tokens=special, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    # the trainer numbers tokens of equal rank in a different order from run to run: sorted, the ids are the same
    ordered = special + sorted(set(tokenizer.get_vocab()) - set(special))
    tokenizer.model = models.WordPiece({token: i for i, token in enumerate(ordered)}, unk_token="[UNK]")
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)


def _chunks(text: str) -> Iterator[str]:
    lines = text.splitlines(keepends=True)
    return ("".join(lines[i:i + 1000]) for i in range(0, len(lines), 1000))


def _train(model: torch.nn.Module, batches: Iterator[dict[str, torch.Tensor]], steps: int, lr: float,
           name: str) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    loss = torch.tensor(0.0)
    for step in range(1, steps + 1):
        loss = model(**next(batches)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == steps:
            print(f"{name}: step {step}/{steps}, loss {loss.item():.3f}", flush=True)
    model.eval()
    return float(loss.item())


def make_gpt2(out: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    text = (HERE / "tinyshakespeare.txt").read_text(encoding="utf-8")
    text = text[:int(len(text) * 0.9)]  # TextFile's default validation part stays unseen
    tokenizer = gpt2_tokenizer(text)
    ids = torch.tensor(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=128, n_layer=2, n_head=4,
                        n_inner=512, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(1337)
    model = GPT2LMHeadModel(config)
    generator = torch.Generator().manual_seed(1337)

    def batches() -> Iterator[dict[str, torch.Tensor]]:
        while True:
            starts = torch.randint(0, len(ids) - GPT2_BLOCK, (GPT2_BATCH,), generator=generator)
            block = torch.stack([ids[s:s + GPT2_BLOCK] for s in starts.tolist()])
            yield {"input_ids": block, "labels": block}

    _train(model, batches(), GPT2_STEPS, 3e-3, "tiny_gpt2")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)  # type: ignore[attr-defined]


LIKED = ("i loved it", "i would see it again", "what a joy", "i smiled all the way home")
DISLIKED = ("i hated it", "what a waste of time", "i walked out", "i want my money back")


def review_sentences(count: int, seed: int) -> list[str]:
    """Half the Reviews node's sentences, half one clause and what the writer felt about it."""
    from nodes.generators import ASPECTS, BAD, GOOD, NEGATIONS, review

    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        if rng.random() < 0.5:
            sentences.append(review(rng)[0])
            continue
        liked, negated = rng.random() < 0.5, rng.random() < 0.4
        word = rng.choice(GOOD if liked != negated else BAD)
        clause = f"the {rng.choice(ASPECTS)} was {rng.choice(NEGATIONS) + ' ' if negated else ''}{word}"
        sentences.append(f"{clause} , {rng.choice(LIKED if liked else DISLIKED)}")
    return sentences


def make_bert(out: Path) -> None:
    from transformers import BertConfig, BertForMaskedLM

    sentences = review_sentences(BERT_SENTENCES, seed=20240601)
    shakespeare = (HERE / "tinyshakespeare.txt").read_text(encoding="utf-8").splitlines()
    tokenizer = bert_tokenizer(sentences + shakespeare)  # words beyond the reviews get ids too
    encoded = tokenizer(sentences, max_length=BERT_LENGTH, padding="max_length", truncation=True,
                        return_tensors="pt")["input_ids"]
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=256, max_position_embeddings=64, pad_token_id=0,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(1337)
    model = BertForMaskedLM(config)
    generator = torch.Generator().manual_seed(1337)
    mask_id, plain = tokenizer.mask_token_id, encoded > 4  # type: ignore[attr-defined]  # not [PAD]/[CLS]/...

    def batches() -> Iterator[dict[str, torch.Tensor]]:
        while True:
            rows = torch.randint(0, len(encoded), (BERT_BATCH,), generator=generator)
            ids, can = encoded[rows].clone(), plain[rows]
            chosen = (torch.rand(ids.shape, generator=generator) < 0.3) & can
            labels = torch.where(chosen, ids, torch.full_like(ids, -100))
            ids[chosen] = mask_id
            yield {"input_ids": ids, "attention_mask": (ids != 0).long(), "labels": labels}

    _train(model, batches(), BERT_STEPS, 2e-3, "tiny_bert")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)  # type: ignore[attr-defined]


if __name__ == "__main__":
    torch.set_num_threads(min(2, torch.get_num_threads()))
    for name, make in (("tiny_gpt2", make_gpt2), ("tiny_bert", make_bert)):
        start = time.perf_counter()
        make(HERE / name)
        print(f"{name}: written in {time.perf_counter() - start:.0f} s", flush=True)
