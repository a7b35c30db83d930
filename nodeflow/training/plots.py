"""Training curves as a PNG (matplotlib's Agg canvas; no pyplot, no global backend)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import BinaryIO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_history(history: Mapping[str, Sequence[float]], out: BinaryIO, title: str = "Training progress") -> None:
    """Loss curves (left) and accuracy curves (right, when present), as the analysis tools of the
    per-model metrics layout draw them."""
    epochs = list(range(1, len(history.get("train_loss", [])) + 1))
    accuracy = [k for k in ("train_accuracy", "val_accuracy") if history.get(k)]
    figure = Figure(figsize=(10 if accuracy else 6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2 if accuracy else 1, squeeze=False)[0]
    for key, marker in (("train_loss", "o"), ("val_loss", "s")):
        if history.get(key):
            axes[0].plot(epochs, history[key], marker=marker, label=key.replace("_", " ").title())
    axes[0].set(xlabel="Epoch", ylabel="Loss", title=title)
    for key, marker in zip(accuracy, ("o", "s")):
        axes[1].plot(epochs, [100 * v for v in history[key]], marker=marker,
                     label=key.replace("_", " ").title())
        axes[1].set(xlabel="Epoch", ylabel="Accuracy (%)", title="Accuracy")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend()
    figure.tight_layout()
    figure.savefig(out, format="png")
