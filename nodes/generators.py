"""Seeded data generators: stories, sentiment reviews, captioned shapes, phantom scans with masks.

Each is a node, so a workflow can use it directly, and each gives the same data for the
same seed on any machine (Python's and NumPy's seeded generators; no downloads).
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from nodeflow.core.spec import NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import CLASSIFICATION, CONTRASTIVE, SEGMENTATION, SEQUENCE_CLASSIFICATION
from nodeflow.training.data import make_bundle
from nodes.processor_input import TOKENIZER_INPUT, check_tokenizer_param, tokenizer_from
from nodes.text_data import BLOCK, LM_OUTPUTS, MAX_LENGTH, TEXT_TOKENIZER_PARAMS, TOKENIZER_PARAMS, VAL_FRACTION, \
    encode_rows, language_data, text_classes, tokenizer_for

SEED = ParamSpec("seed", "int", 0, "Random seed of the generator", min=0, max=2**31 - 1)


def _samples(default: int) -> ParamSpec:
    return ParamSpec("samples", "int", default, "How many to generate", min=4, max=1_000_000)


# --- Stories ------------------------------------------------------------------------------

NAMES = ("Lily", "Tom", "Mia", "Ben", "Sam", "Anna", "Max", "Zoe")
ANIMALS = ("cat", "dog", "bird", "fox", "frog", "bunny")
PLACES = ("park", "garden", "forest", "beach", "yard")
THINGS = ("ball", "kite", "box", "shell", "stick", "hat")
FEELINGS = ("happy", "sad", "scared", "proud", "surprised")
ADJECTIVES = ("little", "big", "shy", "brave", "kind")


def story(rng: random.Random) -> str:
    name, friend = rng.sample(NAMES, 2)
    animal, place, thing = rng.choice(ANIMALS), rng.choice(PLACES), rng.choice(THINGS)
    feeling, adjective = rng.choice(FEELINGS), rng.choice(ADJECTIVES)
    lines = [f"Once upon a time, there was a {adjective} {animal} named {name}.",
             f"{name} liked to play in the {place}.",
             f"One day, {name} found a {thing} under a tree.",
             f"{name} felt very {feeling}."]
    if rng.random() < 0.5:
        lines.append(f"{name} showed the {thing} to {friend}, and they played with it all day.")
    else:
        lines.append(f"{friend} came to the {place} and asked, \"Can I play with the {thing}?\"")
        lines.append(f"{name} said, \"Yes, let us play together!\"")
    return " ".join(lines + ["The end."]) + "\n"


def run_stories(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    rng = random.Random(params["seed"])
    text = "".join(story(rng) for _ in range(params["samples"]))
    train, val = language_data(text, params, "stories", tokenizer_from(inputs, ctx.node_name))
    return {"train": train, "val": val}


STORIES = NodeSpec(
    type="data.stories", title="Stories", category="Data", run=run_stories, outputs=LM_OUTPUTS,
    inputs=(TOKENIZER_INPUT,), check=check_tokenizer_param,
    empty_outputs=lambda p: {"val"} if p["val_fraction"] == 0 else set(),
    description="Short children's stories from a small grammar (TinyStories-style), cut into token blocks.",
    params=(_samples(2000), BLOCK, VAL_FRACTION, *TEXT_TOKENIZER_PARAMS, SEED),
)


# --- Reviews ------------------------------------------------------------------------------

ASPECTS = ("film", "acting", "plot", "music", "ending", "cast", "story", "script")
GOOD = ("good", "great", "fun", "moving", "clever")
BAD = ("bad", "dull", "boring", "weak", "silly")
NEGATIONS = ("not", "hardly", "never")


def _clause(rng: random.Random, positive: bool) -> str:
    negated = rng.random() < 0.4
    words = GOOD if positive != negated else BAD
    return f"the {rng.choice(ASPECTS)} was {rng.choice(NEGATIONS) + ' ' if negated else ''}{rng.choice(words)}"


def review(rng: random.Random) -> tuple[str, str]:
    """Two clauses joined by 'but': the second decides the label, so word order matters."""
    positive = rng.random() < 0.5
    return f"{_clause(rng, not positive)} but {_clause(rng, positive)}", "positive" if positive else "negative"


def run_reviews(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    rng = random.Random(params["seed"])
    pairs = [review(rng) for _ in range(params["samples"])]
    return {"dataset": text_classes([p[0] for p in pairs], [p[1] for p in pairs], params, "reviews",
                                    tokenizer_from(inputs, ctx.node_name))}


REVIEWS = NodeSpec(
    type="data.reviews", title="Reviews", category="Data", run=run_reviews,
    inputs=(TOKENIZER_INPUT,), check=check_tokenizer_param,
    outputs=(PortSpec("dataset", "dataset", "Review token ids and sentiment", tasks=(SEQUENCE_CLASSIFICATION,)),),
    description="Sentiment reviews whose label depends on word order ('not good', 'X but Y'): a "
                "bag-of-words model cannot reach 100 %.",
    params=(_samples(2000), MAX_LENGTH, *TEXT_TOKENIZER_PARAMS, SEED),
)


# --- ShapeCaptions ------------------------------------------------------------------------

COLOURS = {"red": (0.9, 0.1, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.1, 0.3, 0.9), "yellow": (0.9, 0.85, 0.1)}
SHAPES = ("circle", "square", "triangle")
SPOTS = {"top left": (0.25, 0.25), "top right": (0.25, 0.75), "bottom left": (0.75, 0.25),
         "bottom right": (0.75, 0.75), "center": (0.5, 0.5)}


def draw_shape(size: int, shape: str, colour: str, cy: float, cx: float, r: float,
               background: np.ndarray | float = 0.05) -> np.ndarray:
    """A [3, size, size] image: `shape` of radius r (fraction of the side) centred at (cy, cx)."""
    rows, cols = np.mgrid[0:size, 0:size] / size
    if shape == "circle":
        inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
    elif shape == "square":
        inside = (abs(rows - cy) <= r * 0.85) & (abs(cols - cx) <= r * 0.85)
    else:
        inside = (rows >= cy - r) & (rows <= cy + r) & (abs(cols - cx) <= (rows - (cy - r)) / 2)
    image = np.broadcast_to(np.asarray(background, dtype=np.float32), (3, size, size)).copy()
    image[:, inside] = np.array(COLOURS[colour], dtype=np.float32)[:, None]
    return image


def run_shape_captions(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    rng, size = random.Random(params["seed"]), params["image_size"]
    images, captions = [], []
    for _ in range(params["samples"]):
        shape, colour = rng.choice(SHAPES), rng.choice(list(COLOURS))
        big, spot = rng.random() < 0.5, rng.choice(list(SPOTS))
        images.append(draw_shape(size, shape, colour, *SPOTS[spot], 0.2 if big else 0.1))
        place = "in the center" if spot == "center" else f"at the {spot}"
        captions.append(f"a {'large' if big else 'small'} {colour} {shape} {place}")
    tokenizer = tokenizer_for(params, "\n".join(captions))
    ids = encode_rows(tokenizer, captions, params["caption_length"])
    info = {"tokenizer": tokenizer.to_json(), "vocab_size": tokenizer.vocab_size,
            "caption_length": params["caption_length"], "image_size": size}
    return {"dataset": make_bundle(np.stack(images), ids, CONTRASTIVE, (), "shape_captions", info)}


SHAPE_CAPTIONS = NodeSpec(
    type="data.shape_captions", title="ShapeCaptions", category="Data", run=run_shape_captions,
    outputs=(PortSpec("dataset", "dataset", "Images and caption token ids", tasks=(CONTRASTIVE,)),),
    description="Coloured shapes with captions ('a small red circle at the top left') for image-text models.",
    params=(_samples(1000), ParamSpec("image_size", "int", 32, "Pixels square", min=8, max=512),
            ParamSpec("caption_length", "int", 48, "Tokens per caption (padded or cut)", min=2, max=4096),
            *TOKENIZER_PARAMS, SEED),
)


# --- Shapes ------------------------------------------------------------------------------

def run_shapes(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Each class is a colour and a shape, drawn anywhere, at any size, on a noisy grey background."""
    rng, size = np.random.default_rng(params["seed"]), params["image_size"]
    names = tuple(f"{colour} {shape}" for colour in COLOURS for shape in SHAPES)
    labels = rng.integers(0, len(names), params["samples"])
    images = []
    for label in labels:
        colour, shape = names[label].split()
        r = rng.uniform(0.12, 0.3)
        cy, cx = rng.uniform(r, 1 - r, size=2)
        background = rng.uniform(0.0, 0.4) + rng.normal(0, params["noise"], (3, size, size))
        images.append(draw_shape(size, shape, colour, cy, cx, r, background))
    return {"dataset": make_bundle(np.stack(images), labels, CLASSIFICATION, names, "shapes",
                                   {"image_size": size})}


SHAPES_NODE = NodeSpec(
    type="data.shapes", title="Shapes", category="Data", run=run_shapes,
    outputs=(PortSpec("dataset", "dataset", "RGB images and their class", tasks=(CLASSIFICATION,)),),
    description="12 classes of coloured shapes (red circle, blue triangle, ...) at random places and sizes on "
                "noisy backgrounds: a CIFAR-sized image classification set.",
    params=(_samples(3000), ParamSpec("image_size", "int", 32, "Pixels square", min=8, max=512),
            ParamSpec("noise", "float", 0.1, "Standard deviation of the background noise", min=0.0, max=1.0), SEED),
)


# --- Phantoms -----------------------------------------------------------------------------

def phantom(rng: np.random.Generator, size: int, classes: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """A grey 'scan': a body ellipse (class 1) holding organ ellipses (classes 2..), blurred and noisy."""
    rows, cols = np.mgrid[0:size, 0:size] / size
    mask = np.zeros((size, size), dtype=np.int64)

    def ellipse(cy: float, cx: float, ry: float, rx: float, angle: float) -> np.ndarray:
        y, x = rows - cy, cols - cx
        c, s = np.cos(angle), np.sin(angle)
        return ((x * c + y * s) / rx) ** 2 + ((y * c - x * s) / ry) ** 2 <= 1

    mask[ellipse(0.5 + rng.uniform(-0.05, 0.05), 0.5 + rng.uniform(-0.05, 0.05),
                 rng.uniform(0.35, 0.45), rng.uniform(0.3, 0.42), rng.uniform(0, np.pi))] = 1
    for organ in range(2, classes):
        cy, cx = rng.uniform(0.3, 0.7, size=2)
        mask[ellipse(cy, cx, rng.uniform(0.05, 0.14), rng.uniform(0.05, 0.14), rng.uniform(0, np.pi))
             & (mask > 0)] = organ
    levels = np.linspace(0.0, 1.0, classes) * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1)  # intensity drift
    image = levels[mask].astype(np.float32)
    blurred = torch.nn.functional.avg_pool2d(torch.from_numpy(image)[None, None], 3, 1, 1)[0, 0].numpy()
    return blurred + rng.normal(0, noise, size=(size, size)).astype(np.float32), mask


def run_phantoms(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    rng = np.random.default_rng(params["seed"])
    pairs = [phantom(rng, params["image_size"], params["classes"], params["noise"]) for _ in range(params["samples"])]
    names = ("background", "body") + tuple(f"organ_{i}" for i in range(1, params["classes"] - 1))
    x = np.stack([p[0] for p in pairs])[:, None]
    return {"dataset": make_bundle(x, np.stack([p[1] for p in pairs]), SEGMENTATION, names[:params["classes"]],
                                   "phantoms", {"image_size": params["image_size"]})}


PHANTOMS = NodeSpec(
    type="data.phantoms", title="Phantoms", category="Data", run=run_phantoms,
    outputs=(PortSpec("dataset", "dataset", "Grey scans and class-per-pixel masks", tasks=(SEGMENTATION,)),),
    description="2D phantom scans: ellipse 'organs' inside a body, with blur, noise and intensity drift, "
                "and their masks.",
    params=(_samples(200), ParamSpec("image_size", "int", 64, "Pixels square", min=16, max=1024),
            ParamSpec("classes", "int", 4, "Classes: background, body and classes - 2 organs", min=2, max=16),
            ParamSpec("noise", "float", 0.05, "Standard deviation of the added noise", min=0.0, max=1.0), SEED),
)

NODES = [STORIES, REVIEWS, SHAPE_CAPTIONS, SHAPES_NODE, PHANTOMS]
