"""Generate from a Pretrained causal LM (GPT-2 with a LoRA adapter), its text decoded with the
model's own tokenizer through the data node that tokenized with it; a classifier still cannot."""
from __future__ import annotations

import json
from pathlib import Path

from tests.pretrained.runs import SHIPPED
from tests.pretrained.workflows import pretrained_workflow
from tests.reliability.test_fuzz_workflows import cli

PROMPT = "the film was"


def with_generate(path: Path, prompt: str = PROMPT) -> Path:
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["nodes"]["generate"] = {"type": "eval.generate", "version": 1, "name": "Generate",
                                "params": {"prompt": prompt, "max_new_tokens": 12, "temperature": 0.0}}
    doc["links"] += [{"from": {"node": "trainer", "port": "model"}, "to": {"node": "generate", "port": "model"}},
                     {"from": {"node": "data", "port": "train"}, "to": {"node": "generate", "port": "dataset"}}]
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def test_a_lora_gpt2_generates_text_decoded_with_its_tokenizer(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    path = with_generate(pretrained_workflow(tmp_path, str(SHIPPED / "tiny_gpt2"), "causal-lm", lora_r=4))
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["links"] = [link for link in doc["links"] if link["to"] != {"node": "model", "port": "dataset"}]
    doc["links"].append({"from": {"node": "model", "port": "processor"}, "to": {"node": "data", "port": "processor"}})
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = cli("run", str(path), "--set", "Trainer.epochs=1", cwd=tmp_path)
    assert code == 0, err
    text = out.split("[Generate] Generated:\n", 1)[1].split("\nRun completed", 1)[0]
    assert text.startswith(PROMPT), text
    tokenizer = AutoTokenizer.from_pretrained(SHIPPED / "tiny_gpt2")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) >= len(tokenizer(PROMPT)["input_ids"]) + 6, text  # new tokens, in the model's own vocabulary
    assert tokenizer.decode(ids) == text  # decoded with GPT-2's tokenizer: it reads back the same


def test_a_pretrained_classifier_is_refused_by_generate(tmp_path: Path) -> None:
    path = pretrained_workflow(tmp_path, str(SHIPPED / "tiny_bert"), "sequence-classification")
    doc = json.loads(path.read_text(encoding="utf-8"))
    corpus = {"type": "data.text_file", "version": 1, "name": "Corpus", "params": {"path": "corpus.txt"}}
    (tmp_path / "corpus.txt").write_text("the film was good . " * 40, encoding="utf-8")
    doc["nodes"]["corpus"] = corpus
    doc["nodes"]["generate"] = {"type": "eval.generate", "version": 1, "name": "Generate", "params": {}}
    doc["links"] += [{"from": {"node": "trainer", "port": "model"}, "to": {"node": "generate", "port": "model"}},
                     {"from": {"node": "corpus", "port": "train"}, "to": {"node": "generate", "port": "dataset"}}]
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = cli("run", str(path), "--set", "Trainer.epochs=1", cwd=tmp_path)
    assert code == 2, out + err
    assert "node 'Generate' field 'model'" in err and "cannot generate text" in err, err


def test_a_gpt2_whose_id_0_is_a_character_takes_it_in_the_prompt_and_keeps_it_in_the_text() -> None:
    """GPT-2's id 0 is "!": only NodeFlow's own tokenizers pad with id 0 and map unseen characters to it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from nodeflow.training.generate import sample
    from nodeflow.training.tokenizer import load_tokenizer
    from nodes.gpt import GPT

    backend = Tokenizer(models.BPE())  # byte-level, no special tokens: "!" (0x21) is the first id
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(["Hi! Hi!"], trainers.BpeTrainer(
        vocab_size=300, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    assert backend.encode("!").ids == [0]
    tokenizer = load_tokenizer(json.dumps({"kind": "pretrained", "tokenizer": backend.to_str()}))
    assert tokenizer.decode(tokenizer.encode("Hi! Hi!")) == "Hi! Hi!"
    torch.manual_seed(0)
    model = GPT(tokenizer.vocab_size, 16, 1, 1, 8, 0.0, False).eval()
    text = sample(model, tokenizer, "Hi!", 5, temperature=0.0)
    assert text.startswith("Hi!"), text
