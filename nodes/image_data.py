"""Image dataset nodes: ImageFolder (classes), ImageMaskFolder (segmentation), ImageText (captions).

All three stream from disk by default: each sample is decoded when a batch needs it, in
DataLoader workers (LazyData). `cache` decodes everything once into memory instead, for
data that fits. A file that fails to decode stops the run with one line naming it.
"""
from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from nodeflow.core.errors import DataError, Issue
from nodeflow.core.params import resolve_path
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import CLASSIFICATION, CONTRASTIVE, SEGMENTATION
from nodeflow.training.data import LazyData
from nodes.processor_input import IMAGE_INPUT, image_settings
from nodes.text_data import TOKENIZER_PARAMS, encode_rows, tokenizer_for

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
MASK_SUFFIXES = (".png", ".npy", ".nii", ".nii.gz")
SIZE = ParamSpec("image_size", "int", 32, "Images are resized to this many pixels square", min=4, max=1024)
CACHE = ParamSpec("cache", "bool", False, "Decode every image into memory once (faster epochs; only for "
                  "data that fits in RAM). Off: stream from disk in DataLoader workers")


def read_image(path: Path, size: int, color: str, node: str) -> torch.Tensor:
    """[C, size, size] float32 in [0, 1]."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB" if color == "rgb" else "L").resize((size, size)), dtype=np.float32)
    except Exception as exc:  # PIL raises several types for a bad file
        raise DataError(Issue(f"cannot decode image {path}: {exc}", node=node, field="path")) from None
    return torch.from_numpy(pixels.reshape(size, size, -1).transpose(2, 0, 1) / 255.0)


def _finish(ctx: RunContext, data: LazyData, cache: bool) -> dict[str, Any]:
    if not len(data):
        raise DataError(Issue(f"no samples found for '{data.name}'", field="path"))
    if cache:
        ctx.log(f"{ctx.node_name}: decoding {len(data)} samples into memory (cache)")
        return {"dataset": data.materialize()}
    return {"dataset": data}


# --- ImageFolder --------------------------------------------------------------------------

def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass(frozen=True)
class ImageFiles:
    files: tuple[Path, ...]
    labels: tuple[int, ...]
    size: int
    color: str
    node: str
    mean: tuple[float, ...] = (0.0,)  # per channel (or one for all): a linked image processor's
    std: tuple[float, ...] = (1.0,)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = read_image(self.files[i], self.size, self.color, self.node)
        if self.mean != (0.0,) or self.std != (1.0,):
            image = (image - torch.tensor(self.mean)[:, None, None]) / torch.tensor(self.std)[:, None, None]
        return image, torch.tensor(self.labels[i])


def check_image_folder(c: CheckInput) -> list[tuple[str, str]]:
    root = resolve_path(c.params["path"], c.base_dir)
    if not _class_folders(root):
        return [("path", f"{root} has no class sub-folders (expected one folder per class)")]
    return []


def run_image_folder(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    root = resolve_path(params["path"], Path(ctx.base_dir))
    files, labels, names = [], [], []
    for folder in _class_folders(root):
        found = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if found:
            names.append(folder.name)
            files += found
            labels += [len(names) - 1] * len(found)
    if not files:
        raise DataError(Issue(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}", field="path"))
    size, channels = params["image_size"], 3 if params["color"] == "rgb" else 1
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    info: dict[str, Any] = {}
    if fitted := image_settings(inputs, ctx.node_name):
        size, mean, std = fitted
        if len(mean) not in (1, channels):
            raise DataError(Issue(f"color is {params['color']} ({channels} channel{'s' * (channels > 1)}) but the "
                                  f"linked image processor normalizes {len(mean)} channels", field="color"))
        if size != params["image_size"]:
            ctx.log(f"{ctx.node_name}: images resized to {size}x{size}, the linked image processor's size")
        info = {"mean": list(mean), "std": list(std)}
    source = ImageFiles(tuple(files), tuple(labels), size, params["color"], ctx.node_name, mean, std)
    data = LazyData(source, CLASSIFICATION, tuple(range(len(files))), [channels, size, size], tuple(names),
                    root.name, {"image_size": size, "color": params["color"], **info}, torch.tensor(labels))
    return _finish(ctx, data, params["cache"])


IMAGE_FOLDER = NodeSpec(
    type="data.image_folder", title="ImageFolder", category="Data", run=run_image_folder, inputs=(IMAGE_INPUT,),
    outputs=(PortSpec("dataset", "dataset", "Images and class ids", tasks=(CLASSIFICATION,)),),
    check=check_image_folder,
    description="Images in one sub-folder per class (PNG/JPG), resized to a square; streamed from disk.",
    params=(
        ParamSpec("path", "dir", "", "Folder holding one sub-folder per class"),
        SIZE,
        ParamSpec("color", "choice", "rgb", "Channels to keep", choices=("rgb", "grayscale")),
        CACHE,
    ),
)


# --- ImageMaskFolder ----------------------------------------------------------------------

def _stem(path: Path) -> str:
    return path.name[:-7] if path.name.endswith(".nii.gz") else path.stem


def _is_mask(path: Path) -> bool:
    return path.name.endswith(MASK_SUFFIXES)


def _pairs(root: Path) -> tuple[list[tuple[Path, Path]], str]:
    """(image, mask) pairs by matching names, or a reason why not."""
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        return [], f"{root} needs images/ and masks/ sub-folders"
    masks = {_stem(m): m for m in masks_dir.iterdir() if _is_mask(m)}
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | {".npy"}
                    or p.name.endswith((".nii", ".nii.gz")))
    missing = [p.name for p in images if _stem(p) not in masks]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return [], f"no mask in masks/ for {missing[0]}{more}"
    if not images:
        return [], f"no images in {images_dir}"
    return [(p, masks[_stem(p)]) for p in images], ""


def _nifti_slices(path: Path) -> int:
    import nibabel

    shape = cast(Any, nibabel.load(str(path))).shape  # a NIfTI image: it has a shape
    return int(shape[2]) if len(shape) > 2 else 1


def _read_array(path: Path, index: int, node: str) -> np.ndarray:
    """A 2D (or [H, W, C]) array from PNG, NPY or one NIfTI slice."""
    try:
        if path.name.endswith((".nii", ".nii.gz")):
            import nibabel

            volume = np.asarray(cast(Any, nibabel.load(str(path))).dataobj)
            return volume[:, :, index] if volume.ndim > 2 else volume
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        from PIL import Image

        with Image.open(path) as img:
            return np.asarray(img)
    except Exception as exc:  # decoders raise many types for a bad file
        raise DataError(Issue(f"cannot decode {path}: {exc}", node=node, field="path")) from None


@dataclass(frozen=True)
class MaskPairs:
    items: tuple[tuple[Path, Path, int], ...]  # image, mask, slice
    size: int
    classes: int
    node: str

    def __len__(self) -> int:
        return len(self.items)

    def load(self, i: int) -> dict[str, torch.Tensor]:
        image_path, mask_path, index = self.items[i]
        image = _read_array(image_path, index, self.node).astype(np.float32)
        mask = _read_array(mask_path, index, self.node)
        image = image.mean(axis=2) if image.ndim == 3 else image
        if mask.ndim == 3:
            mask = mask[..., 0]
        if image.shape != mask.shape:
            raise DataError(Issue(f"mask {mask_path.name} is {mask.shape[1]}x{mask.shape[0]} but its image "
                                  f"{image_path.name} is {image.shape[1]}x{image.shape[0]}", node=self.node,
                                  field="path"))
        if mask.size and (mask.max() >= self.classes or mask.min() < 0):
            raise DataError(Issue(f"mask {mask_path.name} holds class id {int(mask.max())}; classes is "
                                  f"{self.classes} (ids 0..{self.classes - 1})", node=self.node, field="classes"))
        scale = 255.0 if image.max() > 1.0 else 1.0
        x = torch.from_numpy(image / scale)[None, None]
        y = torch.from_numpy(mask.astype(np.int64))[None, None].float()
        x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        y = torch.nn.functional.interpolate(y, size=(self.size, self.size), mode="nearest")
        return {"image": x[0], "mask": y[0, 0].long()}


def check_mask_folder(c: CheckInput) -> list[tuple[str, str]]:
    _, problem = _pairs(resolve_path(c.params["path"], c.base_dir))
    return [("path", problem)] if problem else []


def run_mask_folder(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    root = resolve_path(params["path"], Path(ctx.base_dir))
    pairs, problem = _pairs(root)
    if problem:
        raise DataError(Issue(problem, field="path"))
    items = []
    for image, mask in pairs:
        slices = _nifti_slices(image) if image.name.endswith((".nii", ".nii.gz")) else 1
        items += [(image, mask, k) for k in range(slices)]
    size, classes = params["image_size"], params["classes"]
    names = tuple(params["class_names"].split(",")) if params["class_names"] else tuple(map(str, range(classes)))
    if len(names) != classes:
        raise DataError(Issue(f"{len(names)} class names for {classes} classes", field="class_names"))
    source = MaskPairs(tuple(items), size, classes, ctx.node_name)
    data = LazyData(source, SEGMENTATION, tuple(range(len(items))), [1, size, size], names, root.name,
                    {"image_size": size})
    return _finish(ctx, data, params["cache"])


IMAGE_MASK_FOLDER = NodeSpec(
    type="data.image_mask_folder", title="ImageMaskFolder", category="Data", run=run_mask_folder,
    outputs=(PortSpec("dataset", "dataset", "Grey images and class-per-pixel masks", tasks=(SEGMENTATION,)),),
    check=check_mask_folder,
    description="images/ and masks/ with matching names (PNG, NPY, or NIfTI .nii/.nii.gz slices when nibabel "
                "is installed); each mask pixel is a class id.",
    params=(
        ParamSpec("path", "dir", "", "Folder holding images/ and masks/"),
        ParamSpec("image_size", "int", 64, "Images and masks are resized to this many pixels square "
                  "(masks by nearest neighbour)", min=4, max=1024),
        ParamSpec("classes", "int", 2, "Number of classes, background included (mask ids 0..classes-1)",
                  min=2, max=256),
        ParamSpec("class_names", "str", "", "Comma-separated names, one per class (empty: 0, 1, ...)",
                  allow_empty=True),
        CACHE,
    ),
)


# --- ImageText ----------------------------------------------------------------------------

def _captions(path: Path) -> tuple[list[tuple[int, str, str]], str]:
    """(line, image name, caption) rows of a captions CSV with `image` and `caption` columns."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], f"cannot read {path}: {exc}"
    if not rows or "image" not in rows[0] or "caption" not in rows[0]:
        return [], f"{path.name} needs a header with 'image' and 'caption' columns"
    i, c = rows[0].index("image"), rows[0].index("caption")
    found = [(n, r[i], r[c]) for n, r in enumerate(rows[1:], start=2) if len(r) > max(i, c) and r[i].strip()]
    return found, "" if found else f"{path.name} has no caption rows"


def check_image_text(c: CheckInput) -> list[tuple[str, str]]:
    folder = resolve_path(c.params["path"], c.base_dir)
    rows, problem = _captions(folder / c.params["captions"])
    if problem:
        return [("captions", problem)]
    for line, name, caption in rows:
        if not (folder / name).is_file():
            return [("captions", f"{c.params['captions']} line {line}: image {name!r} not found in {folder}")]
        if not caption.strip():
            return [("captions", f"{c.params['captions']} line {line}: empty caption")]
    return []


@dataclass(frozen=True)
class CaptionedImages:
    files: tuple[Path, ...]
    ids: torch.Tensor  # [N, caption_length] token ids
    size: int
    node: str

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": read_image(self.files[i], self.size, "rgb", self.node), "caption_ids": self.ids[i]}


def run_image_text(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    folder = resolve_path(params["path"], Path(ctx.base_dir))
    rows, problem = _captions(folder / params["captions"])
    if problem:
        raise DataError(Issue(problem, field="captions"))
    captions = [caption for _, _, caption in rows]
    tokenizer = tokenizer_for(params, "\n".join(captions))
    ids = encode_rows(tokenizer, captions, params["caption_length"])
    size = params["image_size"]
    source = CaptionedImages(tuple(folder / name for _, name, _ in rows), ids, size, ctx.node_name)
    info = {"image_size": size, "tokenizer": tokenizer.to_json(), "vocab_size": tokenizer.vocab_size,
            "caption_length": params["caption_length"], "captions": params["captions"]}
    data = LazyData(source, CONTRASTIVE, tuple(range(len(rows))), [3, size, size], (), folder.name, info)
    return _finish(ctx, data, params["cache"])


IMAGE_TEXT = NodeSpec(
    type="data.image_text", title="ImageText", category="Data", run=run_image_text, check=check_image_text,
    outputs=(PortSpec("dataset", "dataset", "Images and caption token ids", tasks=(CONTRASTIVE,)),),
    description="A folder of images plus a captions CSV (columns image, caption): image-text pairs.",
    params=(
        ParamSpec("path", "dir", "", "Folder holding the images and the captions CSV"),
        ParamSpec("captions", "str", "captions.csv", "Captions CSV inside path"),
        SIZE,
        ParamSpec("caption_length", "int", 32, "Tokens per caption (padded or cut)", min=2, max=4096),
        *TOKENIZER_PARAMS,
        CACHE,
    ),
)

NODES = [IMAGE_FOLDER, IMAGE_MASK_FOLDER, IMAGE_TEXT]
