"""Dataset and Split nodes on real files: CSV, image folders, tensor files."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from nodeflow.core import CheckInput, DataError
from nodes.datasets import CSV, DIGITS, SYNTHETIC, TENSOR_FILE
from nodes.image_data import IMAGE_FOLDER
from nodes.split import SPLIT
from tests.conftest import WORKFLOWS


class Ctx:
    node_id = node_name = "node"
    device_override = None
    dry_run = False
    run_id = ""

    def __init__(self, base: Path):
        self.base_dir = base
        self.logs: list[str] = []

    def emit(self, event: str, **fields: Any) -> None: ...

    def log(self, message: str) -> None:
        self.logs.append(message)

    def should_stop(self) -> bool:
        return False

    def report_metrics(self, metrics: Any) -> None: ...


def run(spec, base: Path, inputs: dict | None = None, **params):
    return spec.run(Ctx(base), inputs or {}, spec.defaults() | params)


def test_digits_are_real_scaled_images() -> None:
    data = run(DIGITS, Path("."))["dataset"]
    assert len(data) == 1797 and data.input_shape == [1, 8, 8] and data.num_classes == 10
    assert 0.0 <= float(data.x.min()) and float(data.x.max()) <= 1.0


def test_csv_with_text_labels_and_standardised_features() -> None:
    data = run(CSV, WORKFLOWS, path="data/wine.csv", target="cultivar")["dataset"]
    assert len(data) == 178 and data.input_shape == [13]
    assert data.class_names == ("class_0", "class_1", "class_2")
    assert torch.allclose(data.x.mean(dim=0), torch.zeros(13), atol=1e-4)
    assert len(data.info["feature_mean"]) == 13


def test_csv_problems_name_the_column_and_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    with pytest.raises(DataError, match=r"line 3, column 'b': not a number"):
        run(CSV, tmp_path, path="t.csv", target="label")
    (tmp_path / "nan.csv").write_text("a,label\n1,x\n,y\n")
    with pytest.raises(DataError, match="line 3, column 'a': not a number"):
        run(CSV, tmp_path, path="nan.csv", target="label")
    (tmp_path / "empty.csv").write_text("a,label\n")
    with pytest.raises(DataError, match="no data rows"):
        run(CSV, tmp_path, path="empty.csv", target="label")
    check = CSV.check(CheckInput(CSV.defaults() | {"path": "t.csv", "target": "nope"}, frozenset(), tmp_path))
    assert check == [("target", "no column 'nope' in t.csv (columns: a, b, label)")]


def test_csv_numeric_target_with_many_values_is_regression(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i * 0.37:.3f}" for i in range(100))
    (tmp_path / "r.csv").write_text("x,y\n" + rows + "\n")
    data = run(CSV, tmp_path, path="r.csv", target="y")["dataset"]
    assert data.task == "regression" and data.output_size == 1


def test_image_folder_reads_one_class_per_folder(tmp_path: Path) -> None:
    for name, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (10 + i, 12), colour).save(tmp_path / name / f"{i}.png")
    lazy = run(IMAGE_FOLDER, tmp_path, path=".", image_size=8)["dataset"]
    assert lazy.lazy and lazy.class_names == ("blue", "red") and lazy.input_shape == [3, 8, 8]
    assert lazy.labels.tolist() == [0, 0, 0, 1, 1, 1]  # known without decoding (stratified splits)
    data = run(IMAGE_FOLDER, tmp_path, path=".", image_size=8, cache=True)["dataset"]
    assert not data.lazy and torch.equal(data.x, lazy.materialize().x)
    assert float(data.x[data.y == 1][:, 0].mean()) == pytest.approx(1.0)  # red channel of "red"
    (tmp_path / "red" / "broken.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="broken.png"):
        run(IMAGE_FOLDER, tmp_path, path=".", image_size=8, cache=True)


def test_tensor_file_npz_and_pt(tmp_path: Path) -> None:
    x, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    np.savez(tmp_path / "d.npz", x=x, y=y)
    torch.save({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, tmp_path / "d.pt")
    for name in ("d.npz", "d.pt"):
        data = run(TENSOR_FILE, tmp_path, path=name)["dataset"]
        assert len(data) == 20 and data.num_classes == 2
    with pytest.raises(DataError, match="has no array 'feats'"):
        run(TENSOR_FILE, tmp_path, path="d.npz", x_key="feats")


def test_split_is_stratified_seeded_and_disjoint() -> None:
    data = run(SYNTHETIC, Path("."), samples=300, classes=3)["dataset"]
    parts = run(SPLIT, Path("."), {"dataset": data}, val_fraction=0.2, test_fraction=0.2)
    sizes = {k: len(v) for k, v in parts.items()}
    assert sizes == {"train": 180, "val": 60, "test": 60}
    for part in parts.values():
        counts = torch.bincount(part.y, minlength=3).float() / len(part)
        full = torch.bincount(data.y, minlength=3).float() / len(data)
        assert torch.allclose(counts, full, atol=0.03)
    rows = {tuple(r.tolist()) for p in parts.values() for r in p.x}
    assert len(rows) == 300
    again = run(SPLIT, Path("."), {"dataset": data}, val_fraction=0.2, test_fraction=0.2)
    assert torch.equal(again["test"].x, parts["test"].x)


def test_digits_are_scikit_learns_digits() -> None:
    from sklearn import datasets

    from nodes.datasets import load_digits

    images, target = load_digits()
    expected = datasets.load_digits()
    assert np.array_equal(images, expected.images) and np.array_equal(target, expected.target)
    assert images.dtype == expected.images.dtype and images.shape == (1797, 8, 8)


def test_split_draws_the_parts_scikit_learn_draws() -> None:
    """A workflow made before the Split drew its own parts trains on the same samples: every case
    (stratified or not, uneven classes, ties, multi-label rows, several seeds) equals train_test_split."""
    from sklearn.model_selection import train_test_split

    from nodes.split import _split_off

    rng = np.random.default_rng(0)
    for n, fraction, classes, seed in [(178, 0.15, 3, 0), (178, 0.15 / 0.85, 3, 0), (300, 0.2, 3, 7), (53, 0.3, 4, 1),
                                       (1797, 0.15, 10, 3), (40, 0.5, 2, 2), (97, 0.11, 5, 11), (12, 0.25, 3, 5)]:
        index = np.sort(rng.choice(n * 2, size=n, replace=False))
        labels = np.zeros(n * 2, dtype=np.int64)
        labels[index] = rng.integers(0, classes, size=n)
        labels[index[:classes * 2]] = np.repeat(np.arange(classes), 2)  # every class at least twice
        for stratify in (labels, None):
            keep, out = train_test_split(index, test_size=fraction, random_state=seed,
                                         stratify=stratify[index] if stratify is not None else None)
            ours = _split_off(index, stratify, fraction, seed)
            assert [ours[0].tolist(), ours[1].tolist()] == [sorted(keep.tolist()), sorted(out.tolist())]
    rows = rng.integers(0, 2, size=(60, 3))
    keep, out = train_test_split(np.arange(60), test_size=0.2, random_state=4, stratify=rows)
    ours = _split_off(np.arange(60), rows, 0.2, 4)
    assert [ours[0].tolist(), ours[1].tolist()] == [sorted(keep.tolist()), sorted(out.tolist())]
    with pytest.raises(DataError, match="cannot split: the least populated classes have only 1 member"):
        _split_off(np.arange(5), np.array([0, 0, 1, 1, 2]), 0.4, 0)
    with pytest.raises(DataError, match="cannot split: 3 samples leave none to keep after taking 0.9 of them"):
        _split_off(np.arange(3), None, 0.9, 0)


def test_split_fractions_must_leave_training_data() -> None:
    params = SPLIT.defaults() | {"val_fraction": 0.5, "test_fraction": 0.5}
    assert SPLIT.check(CheckInput(params, frozenset(), Path("."))) == [
        ("val_fraction", "val_fraction + test_fraction must be below 1 (got 1)")]


def test_images_of_mixed_sizes_and_modes_are_converted_and_resized(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.new("L", (5, 40), 200).save(tmp_path / "a" / "grey_tall.png")
    Image.new("RGBA", (64, 64), (0, 255, 0, 128)).save(tmp_path / "a" / "alpha.png")
    Image.new("P", (9, 9)).save(tmp_path / "b" / "palette.gif")
    Image.new("RGB", (30, 20), (0, 0, 255)).save(tmp_path / "b" / "photo.jpg")
    rgb = run(IMAGE_FOLDER, tmp_path, path=".", image_size=16)["dataset"]
    assert [tuple(rgb.sample(i)[0].shape) for i in range(len(rgb))] == [(3, 16, 16)] * 4  # streamed
    grey = run(IMAGE_FOLDER, tmp_path, path=".", image_size=16, color="grayscale", cache=True)["dataset"]
    assert grey.x.shape == (4, 1, 16, 16)  # decoded into memory
