"""Tiny models of every exportable family, trained for one step and saved through the CheckpointManager API
with the config a Trainer writes (the model's rebuild config and the data's description)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodeflow.checkpoints import CheckpointConfig, CheckpointManager
from nodeflow.core.registry import default_registry

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16}
# a PythonModel's file (save_python): 4 features in, 3 outputs; `noise` is added to the output
NET = """import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x){noise}
"""


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    params: dict[str, Any]
    shape: dict[str, Any]  # input_shape, output_size and, for text, vocab_size / text_length
    task: str

    def inputs(self, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """A batch as the data would give it: images/features, or token ids padded at the end (0)."""
        generator = torch.Generator().manual_seed(seed)
        size = self.shape["input_shape"]
        if self.task in ("language_modelling", "sequence_classification"):
            vocab = self.shape.get("vocab_size") or self.shape["output_size"]
            ids = torch.randint(1, vocab, (batch, *size), generator=generator)
            if self.task == "sequence_classification":
                ids[0, size[0] // 2:] = 0
            return (ids,)
        images = torch.randn((batch, *size), generator=generator)
        if self.task != "contrastive":
            return (images,)
        ids = torch.randint(1, self.shape["vocab_size"], (batch, self.shape["text_length"]), generator=generator)
        ids[0, 3:] = 0
        return images, ids


FAMILIES = [
    Family("mlp", "model.mlp", {"hidden": [16]}, {"input_shape": [13], "output_size": 3}, "classification"),
    Family("cnn", "model.cnn", {"channels": [4, 8], "hidden": 16}, {"input_shape": [1, 8, 8], "output_size": 10},
           "classification"),
    Family("resnet", "model.resnet", {"widths": [4, 8]}, {"input_shape": [3, 8, 8], "output_size": 4},
           "classification"),
    Family("vit", "model.vit", {**TINY, "patch_size": 4}, {"input_shape": [3, 8, 8], "output_size": 4},
           "classification"),
    Family("bert", "model.bert", TINY, {"input_shape": [8], "output_size": 2, "vocab_size": 30},
           "sequence_classification"),
    Family("gpt", "model.gpt", TINY, {"input_shape": [8], "output_size": 20, "vocab_size": 20}, "language_modelling"),
    Family("modern", "model.modern_transformer", {**TINY, "n_kv_head": 1},
           {"input_shape": [8], "output_size": 20, "vocab_size": 20}, "language_modelling"),
    Family("unet", "model.unet", {"channels": [4, 8], "res_units": 1}, {"input_shape": [1, 16, 16], "output_size": 2},
           "segmentation"),
    Family("clip", "model.clip", {**TINY, "patch_size": 4, "embed_dim": 8},
           {"input_shape": [3, 8, 8], "output_size": 1, "vocab_size": 30, "text_length": 6}, "contrastive"),
]
BY_NAME = {f.name: f for f in FAMILIES}


def flat(value: Any) -> list[torch.Tensor]:
    return [value] if isinstance(value, torch.Tensor) else [t for v in value for t in flat(v)]


def save(family: Family, folder: Path) -> Path:
    """Build the family's model as its node does, take one Adam step, save it as a checkpoint."""
    model = default_registry().get(family.type).rebuild({"type": family.type, "params": family.params,
                                                         **family.shape})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    loss = sum(t.float().pow(2).mean() for t in flat(model(*family.inputs(4, seed=1))))
    loss.backward()
    optimizer.step()
    data = {"task": family.task, "input_shape": family.shape["input_shape"],
            "output_size": family.shape["output_size"]}
    data |= {"vocab_size": family.shape["vocab_size"]} if "vocab_size" in family.shape else {}
    data |= {"caption_length": family.shape["text_length"]} if "text_length" in family.shape else {}
    manager = CheckpointManager(CheckpointConfig(checkpoint_dir=folder), family.name)
    found = manager.save_checkpoint(model, optimizer, epoch=1, step=1, metrics={"val_loss": float(loss.detach())},
                                    config={"model": model.nodeflow_config, "data": data})
    assert found is not None
    return manager.path_of(found)


def save_python(code: str, folder: Path, task: str = "classification") -> Path:
    """A PythonModel checkpoint: `code` defines Net in my_model.py beside it, built for 4 features, 3 outputs."""
    from nodes.python_model import build

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "my_model.py").write_text(code)
    shape = {"input_shape": [4], "output_size": 3}
    model = build({"target": "my_model.py:Net", "kwargs": "{}", "seed": 0}, folder, shape)
    manager = CheckpointManager(CheckpointConfig(checkpoint_dir=folder), "python")
    found = manager.save_checkpoint(model, epoch=1, metrics={"val_loss": 1.0},
                                    config={"model": model.nodeflow_config, "data": {"task": task, **shape}})
    assert found is not None
    return manager.path_of(found)
