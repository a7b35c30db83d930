"""Data that fits a pretrained model: the data nodes tokenize with the model's own tokenizer (or take
the image processor's size and normalization) through the processor link, refuse a second tokenizer
or the wrong kind of processor naming both nodes, and the shipped models and examples are usable."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from nodeflow.training.tokenizer import load_tokenizer
from nodes.generators import REVIEWS, review
from nodes.image_data import IMAGE_FOLDER
from nodes.text_data import TEXT_FILE
from tests.conftest import WORKFLOWS, run_cli
from tests.nodes.test_datasets import run

pytest.importorskip("transformers")
from transformers import AutoImageProcessor, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

SHIPPED = {"tiny_gpt2": AutoModelForCausalLM, "tiny_bert": AutoModelForMaskedLM}
CORPUS = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 6


@pytest.fixture(scope="module")
def bert_tokenizer(tiny_models: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_models / "bert", local_files_only=True)


def test_reviews_tokenize_exactly_as_the_linked_tokenizer(bert_tokenizer: Any, tmp_path: Path) -> None:
    data = run(REVIEWS, tmp_path, {"processor": bert_tokenizer}, samples=40, max_length=12)["dataset"]
    rng = random.Random(0)  # the node's default seed: the same reviews
    texts, labels = zip(*(review(rng) for _ in range(40)))
    expected = bert_tokenizer(list(texts), max_length=12, padding="max_length", truncation=True)["input_ids"]
    assert data.x.tolist() == expected
    assert [data.class_names[int(i)] for i in data.y] == list(labels)
    assert data.info["vocab_size"] == len(bert_tokenizer)
    # what a checkpoint carries decodes the ids back to the text (Predict's text column)
    carried = load_tokenizer(data.info["tokenizer"])
    assert [carried.decode(row) for row in data.x] == bert_tokenizer.batch_decode(expected, skip_special_tokens=True)


def test_text_file_blocks_are_the_tokenizers_ids(tiny_models: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_models / "gpt2", local_files_only=True)
    (tmp_path / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    out = run(TEXT_FILE, tmp_path, {"processor": tokenizer}, path="corpus.txt", block_size=8, val_fraction=0.25)
    ids = tokenizer(CORPUS[:int(len(CORPUS) * 0.75)], add_special_tokens=False)["input_ids"]
    train = out["train"]
    assert train.x[0].tolist() == ids[:8] and train.y[0].tolist() == ids[1:9]
    assert train.x[1].tolist() == ids[8:16]
    assert train.info["vocab_size"] == len(tokenizer) and out["val"] is not None


def test_image_folder_takes_size_and_normalization_from_the_image_processor(tiny_models: Path,
                                                                            tmp_path: Path) -> None:
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (20, 20), (255, 0, 0) if name == "a" else (0, 0, 255)).save(tmp_path / name / "1.png")
    processor = AutoImageProcessor.from_pretrained(tiny_models / "vit", local_files_only=True)
    data = run(IMAGE_FOLDER, tmp_path, {"processor": processor}, path=".", image_size=32)["dataset"]
    image, _ = data.sample(0)
    assert data.input_shape == [3, 8, 8] and image.shape == (3, 8, 8)  # the processor's 8x8, not 32
    mean, std = torch.tensor(processor.image_mean), torch.tensor(processor.image_std)
    assert torch.allclose(image[:, 0, 0], (torch.tensor([1.0, 0.0, 0.0]) - mean) / std)


def workflow(folder: Path, source: Path, data: dict[str, Any], task: str = "sequence-classification") -> Path:
    nodes = {"model": {"type": "model.pretrained", "version": 1, "name": "Base",
                       "params": {"source": str(source), "task": task, "num_labels": 2}},
             "data": {"version": 1, "name": "Words", **data},
             "trainer": {"type": "train.trainer", "version": 2, "name": "Trainer",
                         "params": {"epochs": 1, "checkpoint_dir": str(folder / "ck")}}}
    links = [(("model", "processor"), ("data", "processor")), (("model", "model"), ("trainer", "model")),
             (("data", "dataset"), ("trainer", "train"))]
    path = folder / "workflow.json"
    path.write_text(json.dumps({"format": "nodeflow.workflow", "version": 1, "name": "fit", "nodes": nodes, "links": [
        {"from": {"node": a, "port": p}, "to": {"node": b, "port": q}} for (a, p), (b, q) in links]}))
    return path


def test_a_second_tokenizer_is_refused_naming_both_nodes(tiny_models: Path, tmp_path: Path) -> None:
    path = workflow(tmp_path, tiny_models / "bert", {"type": "data.reviews", "params": {"tokenizer": "bpe"}})
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "Words" in result.stderr and "Base.processor" in result.stderr and "tokenizer" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    path.write_text(path.read_text().replace('"bpe"', '"auto"'))
    assert run_cli("validate", str(path), cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("source, task, data", [
    ("vit", "image-classification", {"type": "data.reviews", "params": {"samples": 20}}),
    ("bert", "sequence-classification", {"type": "data.image_folder", "params": {"path": "."}}),
], ids=["image processor into text", "tokenizer into images"])
def test_the_wrong_kind_of_processor_stops_the_run_before_it_starts(tiny_models: Path, tmp_path: Path, source: str,
                                                                     task: str, data: dict[str, Any]) -> None:
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "1.png")
    path = workflow(tmp_path, tiny_models / source, data, task)
    result = run_cli("run", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    given, wanted = ("an image processor", "a tokenizer") if source == "vit" else ("a tokenizer", "an image processor")
    assert "'Words' field 'processor'" in error and f"Base.processor gives {given}; " in error and \
        error.endswith(f"takes {wanted}")
    assert "Traceback" not in result.stderr and "[Base]" not in result.stdout  # refused before anything ran


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_shipped_models_load_offline_with_their_tokenizers(name: str) -> None:
    folder = WORKFLOWS / "data" / name
    model = SHIPPED[name].from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert model.config.vocab_size == len(tokenizer) and tokenizer.pad_token_id == 0
    assert tokenizer.decode(tokenizer("the plot was good", add_special_tokens=False)["input_ids"]) == \
        "the plot was good"


def test_the_shipped_models_are_small() -> None:
    files = [f for name in SHIPPED for f in (WORKFLOWS / "data" / name).iterdir()]
    assert sum(f.stat().st_size for f in files) <= 5 << 20


def test_the_pretrained_bert_knows_what_a_review_means() -> None:
    """Why fine-tuning it beats training from scratch: it already reads polarity and 'not'."""
    folder = WORKFLOWS / "data" / "tiny_bert"
    model = AutoModelForMaskedLM.from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    for clause, feeling in (("good", "loved"), ("not good", "hated"), ("dull", "hated"), ("never dull", "loved")):
        encoded = tokenizer(f"the plot was {clause} , i [MASK] it", return_tensors="pt")
        where = int((encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0, 0])
        with torch.no_grad():
            guess = model(**encoded).logits[0, where].argmax()
        assert tokenizer.decode([int(guess)]) == feeling, clause


@pytest.mark.parametrize("name", ["finetune_gpt2_lora", "finetune_bert_reviews"])
def test_the_fine_tuning_examples_validate(name: str, tmp_path: Path) -> None:
    result = run_cli("validate", str(WORKFLOWS / f"{name}.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
