"""Table and tensor dataset nodes: Digits, CSV, TensorFile and Synthetic. Each outputs a DataBundle.

Image folders are in nodes/image_data.py, text in nodes/text_data.py, generated data in
nodes/generators.py."""
from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.printable import cut
from nodeflow.core.params import resolve_path
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import CLASSIFICATION, MULTILABEL, REGRESSION
from nodeflow.training.data import make_bundle

OUT = (PortSpec("dataset", "dataset", "Features and targets", tasks=(CLASSIFICATION, REGRESSION)),)
TASK = ParamSpec("task", "choice", "auto", "classification, regression, or decided from the targets",
                 choices=("auto", CLASSIFICATION, REGRESSION))
MAX_AUTO_CLASSES = 50


def targets(values: Sequence[Any], task: str, where: str) -> tuple[np.ndarray, str, tuple[str, ...]]:
    """Targets as class indices (with sorted class names) or floats, per `task`."""
    numeric = _as_floats(values)
    if task == "auto":
        few = numeric is None or (np.all(np.mod(numeric, 1) == 0)
                                  and len(np.unique(numeric)) <= MAX_AUTO_CLASSES)
        task = CLASSIFICATION if few else REGRESSION
    if task == REGRESSION:
        if numeric is None or not np.all(np.isfinite(numeric)):
            raise DataError(Issue(f"{where}: regression targets must be finite numbers", field="task"))
        return numeric.astype(np.float32), task, ()
    keys = [str(int(v)) if numeric is not None and float(v).is_integer() else str(v)
            for v in (numeric if numeric is not None else values)]
    names = sorted(set(keys), key=lambda k: (float(k), k) if _is_number(k) else (math.inf, k))
    lookup = {name: index for index, name in enumerate(names)}
    return np.array([lookup[k] for k in keys], dtype=np.int64), task, tuple(names)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_floats(values: Sequence[Any]) -> np.ndarray | None:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _param_path(ctx: RunContext, value: str) -> Path:
    return resolve_path(value, Path(ctx.base_dir))


# --- Digits -------------------------------------------------------------------------------

def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as its load_digits gives them ((1797, 8, 8) images 0-16, their digits), read
    from the file scikit-learn ships without importing scikit-learn (a second of every run's start)."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(Issue("the digits come with scikit-learn, which is not installed (pip install scikit-learn)"))
    with gzip.open(Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz", "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def run_digits(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    images, target = load_digits()
    x = images.astype(np.float32) / 16.0
    x = x.reshape(len(x), -1) if params["flatten"] else x[:, None, :, :]
    names = tuple(str(c) for c in range(10))
    return {"dataset": make_bundle(x, target, CLASSIFICATION, names, "digits")}


DIGITS = NodeSpec(
    type="data.digits", title="Digits", category="Data", run=run_digits,
    outputs=(PortSpec("dataset", "dataset", "Images and class ids", tasks=(CLASSIFICATION,)),),
    description="scikit-learn's 1,797 handwritten digits (8x8 grey images, 10 classes); no download.",
    params=(ParamSpec("flatten", "bool", False, "Give 64 features instead of 1x8x8 images"),),
)


# --- CSV ----------------------------------------------------------------------------------

DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
HEADER_BYTES = 64 << 10  # a header row longer than this is no header: refused, not read on
SHOWN_COLUMNS = 20  # column names listed in an error


def _csv_header(path: Path, delimiter: str) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(_lines_up_to(handle, HEADER_BYTES), delimiter=DELIMITERS[delimiter]), [])


def _lines_up_to(handle: Any, limit: int) -> Any:
    """The handle's lines while they add up to at most `limit` characters (a header may span lines)."""
    used = 0
    while line := handle.readline(limit - used + 1):
        used += len(line)
        if used > limit:
            raise csv.Error(f"its first row is longer than {limit >> 10} KiB: not a header of column names")
        yield line


def _no_column(path: Path, target: str, header: list[str]) -> str:
    """Says the target column is missing, listing a few printable column names, never the file's raw bytes."""
    if not all(name.isprintable() for name in header):
        return f"no column {cut(target, 40)!r} in {path.name}: its first line is not a header of column names"
    names = [cut(name, 40) for name in header[:SHOWN_COLUMNS]]
    more = f" and {len(header) - SHOWN_COLUMNS} more" if len(header) > SHOWN_COLUMNS else ""
    return f"no column {cut(target, 40)!r} in {path.name} (columns: {', '.join(names)}{more})"


def check_csv(c: CheckInput) -> list[tuple[str, str]]:
    path = resolve_path(c.params["path"], c.base_dir)
    if path.exists() and not path.is_file():
        return [("path", f"{path} is not a regular file")]
    try:
        header = _csv_header(path, c.params["delimiter"])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [("path", f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")]
    if not header:
        return [("path", f"{path} is empty")]
    if c.params["target"] not in header:
        return [("target", _no_column(path, c.params["target"], header))]
    return []


def run_csv(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    path = _param_path(ctx, params["path"])
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle, delimiter=DELIMITERS[params["delimiter"]]))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(Issue(f"cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}",
                              field="path")) from None
    header, body = (rows[0] if rows else []), [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if params["target"] not in header:
        raise DataError(Issue(_no_column(path, params["target"], header), field="target"))
    if not body:
        raise DataError(Issue(f"{path.name} has a header but no data rows", field="path"))
    target_col = header.index(params["target"])
    features = [i for i in range(len(header)) if i != target_col]
    x = np.empty((len(body), len(features)), dtype=np.float32)
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(Issue(f"{path.name} line {r}: {len(row)} values, header has {len(header)}",
                                  field="path"))
        for j, col in enumerate(features):
            try:
                x[r - 2, j] = float(row[col])
            except ValueError:
                raise DataError(Issue(f"{path.name} line {r}, column {cut(header[col], 40)!r}: "
                                      f"not a number ({row[col][:20]!r})", field="path")) from None
            if not math.isfinite(x[r - 2, j]):
                raise DataError(Issue(f"{path.name} line {r}, column {cut(header[col], 40)!r}: "
                                      f"missing or non-finite value", field="path"))
    y, task, names = targets([row[target_col] for row in body], params["task"], path.name)
    info: dict[str, Any] = {"feature_names": [header[i] for i in features]}
    if params["standardize"]:
        mean, std = x.mean(axis=0), x.std(axis=0)
        std[std == 0] = 1.0
        x = (x - mean) / std
        info.update(feature_mean=[float(v) for v in mean], feature_std=[float(v) for v in std])
    return {"dataset": make_bundle(x, y, task, names, path.stem, info)}


CSV = NodeSpec(
    type="data.csv", title="CSV", category="Data", run=run_csv, outputs=OUT, check=check_csv,
    description="A table with a header row; one column is the target, the others numeric features.",
    params=(
        ParamSpec("path", "file", "", "CSV file, relative to the workflow file"),
        ParamSpec("target", "str", "target", "Name of the target column"),
        TASK,
        ParamSpec("standardize", "bool", True, "Scale each feature to mean 0, std 1 (stats saved in checkpoints)"),
        ParamSpec("delimiter", "choice", "comma", "Column separator", choices=tuple(DELIMITERS)),
    ),
)


# --- TensorFile ---------------------------------------------------------------------------

def run_tensor_file(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    path = _param_path(ctx, params["path"])
    x_key, y_key = params["x_key"], params["y_key"]
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
            arrays = {k: v.numpy() for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    except Exception as exc:  # any unreadable or unsafe file is a data problem
        raise DataError(Issue(f"cannot read {path.name}: {str(exc).splitlines()[0][:200]}", field="path")) from None
    for key, field in ((x_key, "x_key"), (y_key, "y_key")):
        if key not in arrays:
            raise DataError(Issue(f"{path.name} has no array {key!r} (has: {', '.join(arrays)})", field=field))
    x, y = arrays[x_key], arrays[y_key]
    if len(x) != len(y) or len(x) == 0:
        raise DataError(Issue(f"{path.name}: {len(x)} samples in {x_key!r} but {len(y)} in {y_key!r}", field="path"))
    if not np.all(np.isfinite(x)):
        raise DataError(Issue(f"{path.name}: {x_key!r} holds NaN or infinite values", field="x_key"))
    y_clean, task, names = targets(list(y) if y.ndim == 1 else y, params["task"], path.name)
    return {"dataset": make_bundle(x, y_clean, task, names, path.stem)}


TENSOR_FILE = NodeSpec(
    type="data.tensor_file", title="TensorFile", category="Data", run=run_tensor_file, outputs=OUT,
    description="Arrays from a .npz file (no pickle) or a .pt file of tensors (weights_only).",
    params=(
        ParamSpec("path", "file", "", ".npz or .pt file, relative to the workflow file"),
        ParamSpec("x_key", "str", "x", "Name of the features array"),
        ParamSpec("y_key", "str", "y", "Name of the targets array"),
        TASK,
    ),
)


# --- Synthetic ----------------------------------------------------------------------------

def run_synthetic(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    from sklearn.datasets import make_classification, make_regression

    n, f, seed = params["samples"], params["features"], params["seed"]
    if params["task"] == MULTILABEL:
        from sklearn.datasets import make_multilabel_classification

        x, y = make_multilabel_classification(n_samples=n, n_features=f, n_classes=params["classes"],
                                              n_labels=2, random_state=seed)
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
        names = tuple(f"label_{i}" for i in range(params["classes"]))
        return {"dataset": make_bundle(x, y, MULTILABEL, names, "synthetic")}
    if params["task"] == REGRESSION:
        x, y = make_regression(n_samples=n, n_features=f, noise=params["noise"] * 10, random_state=seed)
        y = (y - y.mean()) / (y.std() or 1.0)
        return {"dataset": make_bundle(x, y, REGRESSION, (), "synthetic")}
    classes = params["classes"]
    x, y = make_classification(n_samples=n, n_features=f, n_informative=min(f, max(2, classes)),
                               n_redundant=0, n_classes=classes, n_clusters_per_class=1,
                               flip_y=params["noise"] / 10, class_sep=1.5, random_state=seed)
    names = tuple(str(i) for i in range(classes))
    return {"dataset": make_bundle(x, y, CLASSIFICATION, names, "synthetic")}


def check_synthetic(c: CheckInput) -> list[tuple[str, str]]:
    p = c.params
    if p["task"] == CLASSIFICATION and p["classes"] > 2 ** p["features"]:
        return [("features", f"{p['classes']} classes need at least {math.ceil(math.log2(p['classes']))} features")]
    if p["task"] == CLASSIFICATION and p["samples"] < 2 * p["classes"]:
        return [("samples", f"need at least 2 samples per class ({2 * p['classes']})")]
    return []


SYNTHETIC = NodeSpec(
    type="data.synthetic", title="Synthetic", category="Data", run=run_synthetic,
    outputs=(PortSpec("dataset", "dataset", "Features and targets", tasks=(CLASSIFICATION, REGRESSION, MULTILABEL)),),
    check=check_synthetic, description="Seeded random data (scikit-learn generators) for tests and demos.",
    params=(
        ParamSpec("task", "choice", CLASSIFICATION, "Kind of targets (multilabel: several of `classes` per sample)",
                  choices=(CLASSIFICATION, REGRESSION, MULTILABEL)),
        ParamSpec("samples", "int", 500, "Number of samples", min=4, max=1_000_000),
        ParamSpec("features", "int", 8, "Number of features", min=1, max=10_000),
        ParamSpec("classes", "int", 3, "Number of classes (classification) or labels (multilabel)", min=2, max=1000),
        ParamSpec("noise", "float", 0.5, "Noise level (0 = clean)", min=0.0, max=10.0),
        ParamSpec("seed", "int", 0, "Random seed", min=0, max=2**31 - 1),
    ),
)

NODES = [DIGITS, CSV, TENSOR_FILE, SYNTHETIC]
