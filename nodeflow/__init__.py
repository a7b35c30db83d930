"""NodeFlow: a visual node-graph training editor for PyTorch.

The package root stays import-light: `nodeflow.core` must load without torch or Qt,
so the helpers exported here are resolved on first use:

- `nodeflow.load(path)`: a workflow file as a Python object to change, run and save (nodeflow.api);
- `nodeflow.restore_model(path)`: a trained model back from a checkpoint file.
"""
from __future__ import annotations

from typing import Any

from nodeflow.version import __version__
__all__ = ["__version__", "load", "restore_model"]


def __getattr__(name: str) -> Any:
    if name == "restore_model":
        from nodeflow.checkpoints.torch_files import restore_model

        return restore_model
    if name == "load":
        from nodeflow.api import load

        return load
    raise AttributeError(f"module 'nodeflow' has no attribute {name!r}")
