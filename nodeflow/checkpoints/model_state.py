"""What a checkpoint's `model_state_dict` holds: the whole state, or only what trains.

A model rebuilt from a base model it names (the Pretrained node's, `nodeflow_state = "trainable"`)
with frozen parameters (a LoRA adapter, frozen layers) saves only the parameters that train and
its buffers, marked `"model_state_is": "trainable"`: the base comes back from its own files, the
identity of which the checkpoint's config records (`config.model.base.weights_sha256`). Loading
checks that base first and then that exactly the trained keys are there (torch_files.check_weights).
"""
from __future__ import annotations

from typing import Any

import torch

STATE_IS, TRAINABLE = "model_state_is", "trainable"  # the marker of a file holding only what trains


def saves_trainable(model: torch.nn.Module) -> bool:
    """A model whose checkpoints hold only what trains: one rebuilt from a base model it names
    (`nodeflow_state = "trainable"`: Pretrained) with some parameters frozen (LoRA, freezing)."""
    return getattr(model, "nodeflow_state", "") == TRAINABLE and any(not p.requires_grad
                                                                       for p in model.parameters())


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The entries of `model.state_dict()` that training changes: the parameters that train (under
    every name of a tied one) and the buffers (running statistics); and the weights the base model's
    files lack (`nodeflow_new_keys`: a pooler a masked-LM base has not), made from a seed, frozen or not."""
    full, own = model.state_dict(), model.state_dict(keep_vars=True)
    new = set(getattr(model, "nodeflow_new_keys", None) or ())
    return {k: full[k] for k, v in own.items()
            if not isinstance(v, torch.nn.Parameter) or v.requires_grad or k in new}


def saved_state(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(model_state_dict, marker) for a checkpoint: the whole state, or only what trains (with
    {"model_state_is": "trainable"}) for a model that keeps a frozen base (saves_trainable)."""
    if saves_trainable(model):
        return trainable_state(model), {STATE_IS: TRAINABLE}
    return model.state_dict(), {}


def base_problem(config: dict[str, Any], model: torch.nn.Module) -> str:
    """Why `model`'s base weights are not the ones `config` (a checkpoint's model config) recorded, or ''."""
    recorded = (config.get("base") or {}).get("weights_sha256")
    found = (getattr(model, "nodeflow_base", None) or {}).get("weights_sha256")
    if not isinstance(recorded, dict) or not isinstance(found, dict):
        return ("this checkpoint holds only the trained parameters, and names no base model to load them over"
                if not isinstance(recorded, dict) else "")
    for name in sorted(set(recorded) | set(found)):
        if recorded.get(name) != found.get(name):
            what = "is missing" if name not in found else "is new" if name not in recorded else "has changed"
            return (f"the base model's weight file {name} {what} since the checkpoint was saved (the checkpoint "
                    "holds only the trained parameters, which fit that base alone)")
    return ""
