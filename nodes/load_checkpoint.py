"""LoadCheckpoint: a trained model from a checkpoint file, for inference graphs.

A checkpoint whose model is built by Python code it names (PythonModel) is refused unless
`trust_code` is on: opening a file never runs code by itself.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeflow.core.params import resolve_path
from nodeflow.core.spec import NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.checkpoints.manifest import value_text
from nodeflow.checkpoints.torch_files import restore_model
from nodeflow.training.device import resolve_device


def run_load_checkpoint(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    path = resolve_path(params["path"], Path(ctx.base_dir))
    device = resolve_device(ctx.device_override or "auto")
    model, checkpoint = restore_model(path, map_location=device, model=inputs.get("model"),
                                      trust_code=params["trust_code"])
    facts = ", ".join(f"{key} {value_text(checkpoint[key])}" for key in ("epoch", "loss")
                      if checkpoint.get(key) is not None)  # a state_dict file has neither
    ctx.log(f"Loaded {path.name}" + (f" ({facts})" if facts else ""))
    return {"model": model}


LOAD_CHECKPOINT = NodeSpec(
    type="model.load_checkpoint", title="LoadCheckpoint", category="Models", run=run_load_checkpoint,
    description="Rebuilds a trained model from a checkpoint (safe loading, weights only): NodeFlow's, or any "
                "file whose config names a model type; bare state_dicts load into a linked model node.",
    inputs=(PortSpec("model", "model", "Architecture to load the weights into (for files with no config "
                     "naming a model type)", optional=True),),
    outputs=(PortSpec("model", "model", "The trained model, in eval mode"),),
    params=(ParamSpec("path", "file", "", "Checkpoint file (.pt, .pth), relative to the workflow file"),
            ParamSpec("trust_code", "bool", False, "Rebuild a model made by your own Python code (a PythonModel's "
                      ".py file or module, which the checkpoint names) by running that code: only for "
                      "checkpoints you trust", label="Trust its code")),
)

NODES = [LOAD_CHECKPOINT]
