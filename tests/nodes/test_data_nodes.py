"""The data nodes beyond tables: masks, text, captions, generators, augmentation; their bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nodeflow.core import CheckInput, DataError
from nodeflow.training.augment import Augment
from nodeflow.training.batches import LazyBatches, in_order
from nodeflow.training.tokenizer import load_tokenizer
from nodes.augment import AUGMENT
from nodes.generators import PHANTOMS
from nodes.image_data import IMAGE_MASK_FOLDER, IMAGE_TEXT
from nodes.split import SPLIT
from nodes.text_data import TEXT_CLASSIFICATION, TEXT_FILE
from tests.conftest import WORKFLOWS, run_cli
from tests.nodes.test_datasets import run

CPU = torch.device("cpu")


def check(spec, base: Path, **params) -> list[tuple[str, str]]:
    return spec.check(CheckInput(spec.defaults() | params, frozenset(), base))


def mask_folder(root: Path, count: int = 4, size: int = 16) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[2:8, 3 + i:9 + i] = 1
        Image.fromarray((mask * 200 + 20).astype(np.uint8)).save(root / "images" / f"scan_{i}.png")
        if i % 2:
            np.save(root / "masks" / f"scan_{i}.npy", mask.astype(np.int64))
        else:
            Image.fromarray(mask).save(root / "masks" / f"scan_{i}.png")
    return root


def test_image_mask_folder_pairs_png_and_npy_masks(tmp_path: Path) -> None:
    data = run(IMAGE_MASK_FOLDER, mask_folder(tmp_path), path=".", image_size=16)["dataset"]
    assert data.lazy and data.task == "segmentation" and len(data) == 4
    image, mask = data.sample(1)
    assert image.shape == (1, 16, 16) and mask.dtype == torch.int64
    assert torch.equal(mask.bool(), image[0] > 0.5)  # the mask covers the bright pixels


def test_image_mask_folder_reads_nifti_slices(tmp_path: Path) -> None:
    nibabel = pytest.importorskip("nibabel")
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    volume = np.random.default_rng(0).random((12, 12, 3)).astype(np.float32)
    labels = (volume > 0.5).astype(np.int16)
    nibabel.save(nibabel.Nifti1Image(volume, np.eye(4)), str(tmp_path / "images" / "ct.nii.gz"))
    nibabel.save(nibabel.Nifti1Image(labels, np.eye(4)), str(tmp_path / "masks" / "ct.nii.gz"))
    data = run(IMAGE_MASK_FOLDER, tmp_path, path=".", image_size=12)["dataset"]
    assert len(data) == 3  # one sample per slice
    assert torch.equal(data.sample(2)[1], torch.from_numpy(labels[:, :, 2].astype(np.int64)))


def test_a_bad_mask_stops_with_one_line_from_inside_a_worker(tmp_path: Path) -> None:
    root = mask_folder(tmp_path)
    np.save(root / "masks" / "scan_1.npy", np.zeros((10, 16), dtype=np.int64))
    data = run(IMAGE_MASK_FOLDER, root, path=".", image_size=16)["dataset"]
    with pytest.raises(DataError) as caught:
        list(in_order(data, CPU, 2, LazyBatches(data, 0, False, 2, CPU)))
    assert str(caught.value) == ("node 'node' field 'path': mask scan_1.npy is 16x10 but its image scan_1.png "
                                 "is 16x16")
    np.save(root / "masks" / "scan_1.npy", np.full((16, 16), 5, dtype=np.int64))
    with pytest.raises(DataError, match="mask scan_1.npy holds class id 5; classes is 2"):
        list(in_order(data, CPU, 2, LazyBatches(data, 0, False, 2, CPU)))
    (root / "masks" / "scan_2.png").unlink()
    assert check(IMAGE_MASK_FOLDER, root, path=".") == [("path", "no mask in masks/ for scan_2.png")]


def test_text_file_splits_tiny_shakespeare_by_position() -> None:
    parts = run(TEXT_FILE, WORKFLOWS, path="data/tinyshakespeare.txt", block_size=128)
    train, val = parts["train"], parts["val"]
    tokenizer = load_tokenizer(train.info["tokenizer"])
    text = (WORKFLOWS / "data" / "tinyshakespeare.txt").read_text()
    assert tokenizer.decode(train.x[0]) == text[:128]  # the first 90 % trains, from the start
    assert tokenizer.decode(val.x[0]) == text[int(len(text) * 0.9):][:128]
    assert train.output_size == tokenizer.vocab_size == 66  # 65 characters + padding
    assert len(train) == (int(len(text) * 0.9) - 1) // 128


def test_bpe_tokenizer_trains_on_the_text_and_round_trips(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("the cat sat on the mat. " * 200 + "the dog sat on the log. " * 200)
    train = run(TEXT_FILE, tmp_path, path="t.txt", tokenizer="bpe", vocab_size=300, block_size=16)["train"]
    tokenizer = load_tokenizer(train.info["tokenizer"])
    assert tokenizer.vocab_size <= 300 and len(tokenizer.encode("the cat sat")) < len("the cat sat")
    assert tokenizer.decode(tokenizer.encode("the cat sat on the mat.")) == "the cat sat on the mat."


def test_text_bad_input_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    assert check(TEXT_FILE, tmp_path, path="empty.txt") == [("path", "empty.txt is empty")]
    (tmp_path / "short.txt").write_text("to be or not to be")
    assert check(TEXT_FILE, tmp_path, path="short.txt", block_size=64) == [
        ("block_size", "block_size 64 is larger than the training text of short.txt (about 16 characters)")]
    (tmp_path / "r.csv").write_text("text,label\ngood film,pos\n,neg\n")
    assert check(TEXT_CLASSIFICATION, tmp_path, path="r.csv") == [("path", "r.csv line 3: empty 'text' cell")]


def test_text_classification_reads_texts_and_labels(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("text,label\ngood film,pos\nbad film,neg\nfine,pos\n")
    data = run(TEXT_CLASSIFICATION, tmp_path, path="r.csv", max_length=12)["dataset"]
    assert data.class_names == ("neg", "pos") and data.y.tolist() == [1, 0, 1]
    assert load_tokenizer(data.info["tokenizer"]).decode(data.x[1]) == "bad film"


def test_image_text_pairs_and_a_missing_image(tmp_path: Path) -> None:
    for i, colour in enumerate(("red", "blue")):
        Image.new("RGB", (8, 8), colour).save(tmp_path / f"{i}.png")
    (tmp_path / "captions.csv").write_text("image,caption\n0.png,a red square\n1.png,a blue square\n")
    data = run(IMAGE_TEXT, tmp_path, path=".", image_size=8)["dataset"]
    image, ids = data.sample(1)
    assert image.shape == (3, 8, 8) and load_tokenizer(data.info["tokenizer"]).decode(ids) == "a blue square"
    (tmp_path / "captions.csv").write_text("image,caption\n0.png,a red square\n2.png,a green square\n")
    assert check(IMAGE_TEXT, tmp_path, path=".") == [
        ("captions", f"captions.csv line 3: image '2.png' not found in {tmp_path}")]


def test_split_keeps_the_task_of_every_kind_of_data(tmp_path: Path) -> None:
    data = run(IMAGE_MASK_FOLDER, mask_folder(tmp_path, count=10), path=".")["dataset"]
    parts = run(SPLIT, tmp_path, {"dataset": data}, val_fraction=0.2, test_fraction=0.2)
    assert {k: (len(v), v.task, v.lazy) for k, v in parts.items()} == {
        "train": (6, "segmentation", True), "val": (2, "segmentation", True), "test": (2, "segmentation", True)}
    assert sorted(parts["train"].index + parts["val"].index + parts["test"].index) == list(range(10))


def test_augmentation_is_seeded_and_moves_masks_with_images() -> None:
    augment = Augment(crop_padding=3, hflip=0.5, vflip=0.5, masks=True)
    mask = torch.randint(0, 3, (8, 12, 12))
    image = mask[:, None].float()  # an image equal to its mask: any geometric mismatch shows
    first = augment.random(image, mask, torch.Generator().manual_seed(1))
    again = augment.random(image, mask, torch.Generator().manual_seed(1))
    other = augment.random(image, mask, torch.Generator().manual_seed(2))
    assert torch.equal(first[0], again[0]) and not torch.equal(first[0], other[0])
    assert torch.equal(first[0][:, 0].long(), first[1])


def test_augment_node_normalizes_once_and_keeps_only_random_steps_for_training() -> None:
    data = run(PHANTOMS, Path("."), samples=8, image_size=32)["dataset"]
    out = run(AUGMENT, Path("."), {"dataset": data}, resize=16, mean="0.5", std="0.25", hflip=0.5)["dataset"]
    assert out.x.shape == (8, 1, 16, 16) and out.y.shape == (8, 16, 16)
    assert out.augment.resize == 0 and out.augment.hflip == 0.5  # the fixed steps ran once, up front
    assert check(AUGMENT, Path("."), mean="0.5", std="0") == [("std", "every std must be above 0")]


def test_validation_refuses_data_the_model_cannot_take(tmp_path: Path) -> None:
    nodes = {"p": ("data.phantoms", "Phantoms"), "s": ("data.split", "Split"), "m": ("model.mlp", "MLP"),
             "t": ("train.trainer", "Trainer")}
    links = [("p", "dataset", "s", "dataset"), ("s", "train", "m", "dataset"), ("m", "model", "t", "model"),
             ("s", "train", "t", "train")]
    doc = {"format": "nodeflow.workflow", "version": 1,
           "nodes": {k: {"type": t, "name": n, "params": {"monitor": "val_accuracy"} if k == "t" else {}}
                     for k, (t, n) in nodes.items()},
           "links": [{"from": {"node": a, "port": b}, "to": {"node": c, "port": d}} for a, b, c, d in links]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert ("bad.json: node 'MLP' field 'dataset': Split.train gives segmentation data; MLP takes "
            "classification, multilabel or regression data") in result.stderr
    assert "node 'Trainer' field 'monitor': 'val_accuracy' is not reported for segmentation data" in result.stderr
