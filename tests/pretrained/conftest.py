"""Tiny random models in Hugging Face format, made here (nothing downloaded), for the Pretrained tests.

`tiny_models` is a folder holding `gpt2/` (GPT-2 causal LM with a byte-level BPE tokenizer),
`bert/` (BERT masked LM with a WordPiece tokenizer) and `vit/` (ViT image classifier for 8x8 RGB
images with its image processor), each written by transformers' save_pretrained, once per session.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import build_once

TEXT = ("the plot was not dull but the acting was weak . the film was good and the music was great . "
        "a slow story with a sad end . what a bright and funny film . ") * 20


def _bpe_tokenizer(folder: Path) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([TEXT], trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                            unk_token="<|endoftext|>").save_pretrained(folder)
    return tok.get_vocab_size()


def _wordpiece_tokenizer(folder: Path) -> int:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator([TEXT], trainers.WordPieceTrainer(vocab_size=200, special_tokens=special))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls),
                                                                                                 ("[SEP]", sep)])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)
    return tok.get_vocab_size()


def make_tiny_models(root: Path) -> None:
    import torch
    from transformers import (BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel, ViTConfig,
                              ViTForImageClassification, ViTImageProcessor)

    torch.manual_seed(0)
    vocab = _bpe_tokenizer(root / "gpt2")
    GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=vocab, n_positions=64, bos_token_id=0,
                               eos_token_id=0)).save_pretrained(root / "gpt2")
    vocab = _wordpiece_tokenizer(root / "bert")
    BertForMaskedLM(BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                               vocab_size=vocab, max_position_embeddings=64, pad_token_id=0)).save_pretrained(
        root / "bert")
    ViTForImageClassification(ViTConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                                        intermediate_size=64, image_size=8, patch_size=4, num_channels=3,
                                        num_labels=2)).save_pretrained(root / "vit")
    ViTImageProcessor(size={"height": 8, "width": 8}).save_pretrained(root / "vit")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding gpt2/, bert/ and vit/ (read only: copy one before changing it)."""
    return build_once(tmp_path_factory, "tiny_hf_models", make_tiny_models)
