"""Regenerates the example data shipped in workflows/data (deterministic).

    python workflows/data/make_data.py

wine.csv: scikit-learn's wine recognition data (178 samples, 13 features, 3 cultivars).
shapes/: 24x24 PNG drawings of circles, squares and triangles, 60 per class.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

from PIL import Image, ImageDraw
from sklearn.datasets import load_wine

HERE = Path(__file__).parent


def write_wine() -> None:
    wine = load_wine()
    with (HERE / "wine.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*wine.feature_names, "cultivar"])
        for row, label in zip(wine.data, wine.target):
            writer.writerow([f"{v:g}" for v in row] + [wine.target_names[label]])


def draw(kind: str, rng: random.Random) -> Image.Image:
    size = 24
    img = Image.new("RGB", (size, size), tuple(rng.randint(0, 60) for _ in range(3)))
    pen = ImageDraw.Draw(img)
    color = tuple(rng.randint(120, 255) for _ in range(3))
    r = rng.randint(5, 9)
    cx, cy = rng.randint(r + 1, size - r - 2), rng.randint(r + 1, size - r - 2)
    if kind == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif kind == "square":
        pen.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    else:
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=color)
    return img


def write_shapes(per_class: int = 60) -> None:
    rng = random.Random(0)
    for kind in ("circle", "square", "triangle"):
        folder = HERE / "shapes" / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw(kind, rng).save(folder / f"{kind}_{i:03d}.png", optimize=True)


if __name__ == "__main__":
    write_wine()
    write_shapes()
