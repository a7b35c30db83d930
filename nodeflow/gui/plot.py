"""The live training curves: matplotlib inside Qt, one point per epoch_end event."""
from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure


class CurvesCanvas(FigureCanvasQTAgg):
    """Loss on the left axes, accuracy (when the run reports it) on the right."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(5, 2.6), tight_layout=True)
        super().__init__(self.figure)
        self.setObjectName("curves")
        self.loss_axes = self.figure.add_subplot(1, 2, 1)
        self.acc_axes = self.figure.add_subplot(1, 2, 2)
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.clear()

    def clear(self) -> None:
        self.history = {}
        self._redraw()

    def add_epoch(self, event: dict[str, Any]) -> None:
        for key, value in (event.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and (key.endswith("_loss") or key.endswith("_accuracy")):
                self.history.setdefault(key, []).append((int(event["epoch"]), float(value)))
        self._redraw()

    def points(self, key: str) -> list[tuple[int, float]]:
        return list(self.history.get(key, []))

    def _redraw(self) -> None:
        for axes, suffix, title in ((self.loss_axes, "_loss", "Loss"), (self.acc_axes, "_accuracy", "Accuracy")):
            axes.clear()
            axes.set_title(title, fontsize=9)
            axes.set_xlabel("epoch", fontsize=8)
            axes.tick_params(labelsize=7)
            axes.grid(alpha=0.3)
            for key in ("train" + suffix, "val" + suffix):
                if self.history.get(key):
                    xs, ys = zip(*self.history[key])
                    axes.plot(xs, ys, marker="o", markersize=3, label=key.split("_")[0])
            if axes.lines:
                axes.legend(fontsize=7)
        self.draw_idle()
