"""One-line texts for run events, shared by the CLI console, training_log.txt and the editor."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def epoch_line(event: dict[str, Any]) -> str:
    """`Epoch [1/20], Loss: 0.6542` plus accuracy and validation metrics when present."""
    m = event["metrics"]
    parts = [f"Epoch [{event['epoch']}/{event['epochs']}], Loss: {m['train_loss']:.4f}"]
    if "train_accuracy" in m:
        parts.append(f"Acc: {_pct(m['train_accuracy'])}")
    if "val_loss" in m:
        parts.append(f"Val Loss: {m['val_loss']:.4f}")
    if "val_accuracy" in m:
        parts.append(f"Val Acc: {_pct(m['val_accuracy'])}")
    for key, value in m.items():  # the task's other per-epoch values: val_perplexity, val_mean_dice, ...
        if key.startswith("val_") and key not in ("val_loss", "val_accuracy") and isinstance(value, float):
            parts.append(f"{key[4:].replace('_', ' ').title()}: {value:.4f}")
    return ", ".join(parts)


def metrics_line(node: str, m: dict[str, Any]) -> str:
    if "accuracy" in m:
        extra = "".join(f", {k.replace('_accuracy', '')} accuracy {_pct(v)}"
                        for k, v in m.items() if k.startswith("top") and k.endswith("_accuracy"))
        return (f"{node}: accuracy {_pct(m['accuracy'])}{extra}, loss {m['loss']:.4f} "
                f"({m['samples']} samples)")
    if "mae" in m:
        return f"{node}: loss {m['loss']:.4f}, mae {m['mae']:.4f}, rmse {m['rmse']:.4f}, r2 {m['r2']:.4f} " \
               f"({m['samples']} samples)"
    values = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in m.items()  # other tasks: every number
                       if isinstance(v, float) and k != "samples")
    return f"{node}: {values} ({m['samples']} samples)"


def early_stop_line(e: dict[str, Any]) -> str:
    """The fit_end event of a run that early stopping ended."""
    best = "" if e.get("best") is None else f" (best {e['best']:.4g} at epoch {e['best_epoch']})"
    return (f"Early stopping at epoch {e['stopped_early']}: {e['monitor']} has not improved for "
            f"{e['stale_epochs']} epoch(s){best}")


def checkpoint_line(e: dict[str, Any]) -> str:
    """The console lines for a checkpoint_saved event ("  ✓ Saved checkpoint: checkpoint_epoch_5.pt")."""
    name = Path(e["path"]).name
    if e["kind"] == "periodic":
        return f"  ✓ Saved checkpoint: {name}"
    if e["kind"] == "best":
        label = "loss" if e["monitor"] == "train_loss" else e["monitor"]
        return f"  ✓ Saved best model ({label}: {e['value']:.4f})"
    if e["kind"] == "latest":
        return f"  ✓ Updated {name}"
    if e["kind"] == "interrupt":
        return f"  ✓ Saved interrupt checkpoint: {e['path']} (after {e['epoch']} epochs)"
    return f"\n✓ Training complete. Final model saved to: {e['path']}"
