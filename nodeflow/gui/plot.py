"""The live training curves: matplotlib inside Qt, one point per epoch_end event.

Drawing is the expensive part (tens of ms), so lines are updated in place, the layout is
fixed (no tight_layout per draw), and nothing is drawn while the tab is hidden.
"""
from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6 import QtGui

SERIES = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")


class CurvesCanvas(FigureCanvasQTAgg):
    """Loss on the left axes, accuracy (when the run reports it) on the right."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(5, 2.6))
        super().__init__(self.figure)
        self.setObjectName("curves")
        self.figure.subplots_adjust(left=0.06, right=0.98, bottom=0.2, top=0.88, wspace=0.18)
        axes = {"_loss": self.figure.add_subplot(1, 2, 1), "_accuracy": self.figure.add_subplot(1, 2, 2)}
        for suffix, title in (("_loss", "Loss"), ("_accuracy", "Accuracy")):
            axes[suffix].set_title(title, fontsize=9)
            axes[suffix].set_xlabel("epoch", fontsize=8)
            axes[suffix].tick_params(labelsize=7)
            axes[suffix].grid(alpha=0.3)
            # Tick labels are most of a draw's cost: whole epochs, few labels.
            axes[suffix].xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
            axes[suffix].yaxis.set_major_locator(MaxNLocator(nbins=4))
        self.lines = {key: axes["_" + key.split("_", 1)[1]].plot([], [], marker="o", markersize=3,
                                                                  label=key.split("_")[0])[0] for key in SERIES}
        self.history: dict[str, list[tuple[int, float]]] = {}
        self._stale = False
        self.clear()

    def clear(self) -> None:
        self.history = {}
        self._update()

    def add_epoch(self, event: dict[str, Any]) -> None:
        for key, value in (event.get("metrics") or {}).items():
            if key in SERIES and isinstance(value, (int, float)):
                self.history.setdefault(key, []).append((int(event["epoch"]), float(value)))
        self._update()

    def points(self, key: str) -> list[tuple[int, float]]:
        return list(self.history.get(key, []))

    def _update(self) -> None:
        for key, line in self.lines.items():
            xs, ys = zip(*self.history[key]) if self.history.get(key) else ((), ())
            line.set_data(xs, ys)
        for axes in self.figure.axes:
            axes.relim()
            axes.autoscale_view()
            shown = [line for line in axes.lines if len(line.get_xdata())]
            legend = axes.get_legend()
            if shown and legend is None:
                axes.legend(handles=shown, fontsize=7)
            elif legend is not None and len(legend.get_texts()) != len(shown):
                legend.remove()
                if shown:
                    axes.legend(handles=shown, fontsize=7)
        self._stale = True
        if self.isVisible():
            self._stale = False
            self.draw_idle()

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.draw_idle()
