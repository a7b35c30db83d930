"""Small workflows around a Pretrained node, written as files the CLI runs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEXT = ("the plot was not dull but the acting was weak . the film was good and the music was great . ") * 12


def pretrained_workflow(folder: Path, source: str, task: str = "causal-lm", **params: Any) -> Path:
    """Data → Pretrained → Trainer (2 epochs, checkpoints in folder/ckpt): text for causal-lm,
    labelled reviews for sequence-classification, coloured shapes for image-classification."""
    if task == "causal-lm":
        (folder / "corpus.txt").write_text(TEXT, encoding="utf-8")
        data = {"type": "data.text_file", "params": {"path": "corpus.txt", "block_size": 16, "val_fraction": 0.2}}
        train, val = "train", "val"
    elif task == "image-classification":
        data = {"type": "data.shapes", "params": {"samples": 48, "image_size": 8}}
        train, val = "dataset", ""
    else:
        data = {"type": "data.reviews", "params": {"samples": 48, "max_length": 12, "tokenizer": "char"}}
        train, val = "dataset", ""
    nodes = {
        "data": {**data, "version": 1, "name": "Data"},
        "model": {"type": "model.pretrained", "version": 1, "name": "Pretrained",
                  "params": {"source": source, "task": task, **params}},
        "trainer": {"type": "train.trainer", "version": 2, "name": "Trainer",
                    "params": {"epochs": 2, "batch_size": 8, "lr": 0.01, "checkpoint_dir": str(folder / "ckpt"),
                               "async_save": False, "scheduler": "none"}},
    }
    links = [(("data", train), ("model", "dataset")), (("data", train), ("trainer", "train")),
             (("model", "model"), ("trainer", "model"))] + ([(("data", val), ("trainer", "val"))] if val else [])
    workflow = {"format": "nodeflow.workflow", "version": 1, "name": f"pretrained_{task}", "nodes": nodes,
                "links": [{"from": {"node": a, "port": p}, "to": {"node": b, "port": q}} for (a, p), (b, q) in links]}
    path = folder / "workflow.json"
    path.write_text(json.dumps(workflow, indent=2), encoding="utf-8")
    return path
