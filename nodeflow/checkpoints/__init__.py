"""Everything about checkpoint files and folders, below the training loop and above nodeflow.core.

Modules (each one concept):
- manager: the CheckpointManager API for a user's own training loop (needs torch);
- manifest: manifest.json, its entries, verifying files against them, changing them under a lock;
- folder_state: reading a manifest with every check, whose run a folder holds, what is in the way;
- folder_names, manifest_fields: the names and field types a manifest may hold;
- layout: where a run's files go (the Trainer's own layout, the experiments layout);
- run_request: the one owner of a Trainer's run folder (RunRequest, RunFolder);
- run_folder: claiming a folder for a run, moving another run's files aside;
- backups: second copies of best, final and `keep` files, checked against the manifest;
- peek: what a .pt file holds, read without unpickling; scan: every checkpoint under a tree;
- torch_files: saving and loading checkpoint dicts with torch, rebuilding the model;
- compress: .pt.zst / .pt.gz streams; background: saving in a writer thread;
- resume: which file a run resumes from; yaml_block: the `checkpoint:` YAML block;
- export, export_inputs: a verified copy, or the model as ONNX / TorchScript.

Durable atomic writes live in nodeflow.core.files and single-file ownership in nodeflow.core.outputs:
every writer uses them (Predict's CSV, plots, workflow files), not only checkpoints.
manifest, folder_state, layout, run_request, run_folder, backups, peek, scan, resume and yaml_block
import without torch
(the editor lists, scans and tags in its own process). This package never imports
nodeflow.training, nodes, the CLI or the GUI.

`from nodeflow.checkpoints import CheckpointManager, CheckpointConfig` loads the manager (and
torch) on first use only.
"""
from __future__ import annotations

from typing import Any

API = ("CheckpointConfig", "CheckpointManager", "CheckpointMetadata", "CheckpointError", "CheckpointWarning",
       "validate_checkpoint", "weight_differences")
__all__ = list(API)


def __getattr__(name: str) -> Any:
    if name in API:
        from nodeflow.checkpoints import manager

        return getattr(manager, name)
    raise AttributeError(f"module 'nodeflow.checkpoints' has no attribute {name!r}")
