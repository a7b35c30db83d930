"""Continuing a run from a checkpoint: read it, refuse it in one line when this run cannot
continue from it (another tokenizer, other weight shapes), and put its state back into the loop."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.payload import check_resumable
from nodeflow.checkpoints.resume import config_changes
from nodeflow.checkpoints.torch_files import check_weights, load_checkpoint
from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.spec import RunContext
from nodeflow.training.loop import TrainingLoop
from nodeflow.training.resume_settings import refuse_changed_kind
from nodeflow.training.tokenizer import tokenizer_mismatch


def read_resume(path: Path, model: Any, snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint at `path`, refused in one line when this run cannot continue from it."""
    checkpoint = load_checkpoint(path)
    check_resumable(checkpoint, str(path))
    refuse_changed_kind(((checkpoint.get("config") or {}).get("trainer") or {}), snapshot["trainer"])
    try:  # before the weights: another tokenizer is why an embedding's shape differs
        mismatch = tokenizer_mismatch((checkpoint.get("config") or {}).get("data"), snapshot["data"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a saved tokenizer that does not load
        raise CheckpointError(Issue(f"its saved tokenizer does not load ({type(exc).__name__})",
                                    field="config.data.tokenizer", file=str(path))) from None
    if mismatch:
        raise CheckpointError(Issue(f"cannot resume from {path}: {mismatch}", field="resume"))
    check_weights(model, checkpoint["model_state_dict"], str(path), "this run's model")
    return checkpoint


def resume_from(ctx: RunContext, loop: TrainingLoop, path: Path, checkpoint: dict[str, Any],
                snapshot: Mapping[str, Any]) -> None:
    """Restore `loop` from `checkpoint`, read from `path` by read_resume."""
    try:
        loop.load_state_dict(checkpoint)
    except (TypeError, ValueError, KeyError, IndexError, RuntimeError, AttributeError) as exc:
        raise CheckpointError(Issue(f"its saved training state does not load ({type(exc).__name__}: "
                                    f"{str(exc).strip()[:160]})", field="resume", file=str(path))) from None
    changes = config_changes(checkpoint.get("config") or {}, snapshot)
    ctx.emit("resumed", path=str(path), epoch=loop.state.epoch, step=loop.state.step, changes=changes,
             applied=loop.applied)
