"""The live training curves (the Curves tab): pyqtgraph inside Qt, fed by run events.

Loss against optimizer steps: the train_step points faint, their smoothed line (a debiased
exponential moving average, as TensorBoard draws it) over them, validation points at the step of
each epoch end, epochs on the top axis (a run shorter than an epoch: the share of it), a log-scale
toggle; accuracy at epoch ends and the learning rate (from zero, so a constant rate is a line) in
two small panels beside it. A run that continues another's checkpoint folder shows the earlier
run's points first, from the run index. Events only store numbers; the first change after a
quiet spell redraws at once (a run's first point shows as it arrives), later ones wait for a QTimer,
so redraws are at least REDRAW_MS apart, and none happen while the tab is hidden. Each line draws
at most about two points per pixel column (pyqtgraph's min/max "peak" downsampling, clipped to the
view), so a redraw costs about as much at 100,000 points as at 1,000 (benchmarks/curves.py).
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

import pyqtgraph as pg  # after PySide6: it uses the binding already loaded

from nodeflow.runs import load_runs

SERIES = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
REDRAW_MS = 250
SMOOTHING = 0.6  # weight of the past in the moving average: TensorBoard's default
BLUE, LIGHT_BLUE, ORANGE, GREEN = (31, 119, 180), (174, 199, 232), (255, 127, 14), (44, 160, 44)


def step_text(value: float) -> str:
    """Tick labels that fit a small panel: 800, 20k, 1.5M."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


class StepAxis(pg.AxisItem):
    def __init__(self) -> None:
        super().__init__("bottom")

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [step_text(v * scale) for v in values]


class Series:
    """x, y values in growing numpy arrays (appends are amortised O(1), reads are views)."""

    def __init__(self) -> None:
        self._data = np.empty((2, 1024))
        self.size = 0

    def append(self, x: float, y: float) -> None:
        if self.size == self._data.shape[1]:
            self._data = np.concatenate([self._data, np.empty_like(self._data)], axis=1)
        self._data[:, self.size] = (x, y)
        self.size += 1

    @property
    def x(self) -> np.ndarray:
        return self._data[0, :self.size]

    @property
    def y(self) -> np.ndarray:
        return self._data[1, :self.size]


class EpochAxis(pg.AxisItem):
    """The top axis: the step axis's range in epochs (steps per epoch from the latest train_step)."""

    def __init__(self) -> None:
        super().__init__("top")
        self.steps_per_epoch = 0.0
        self.percent = False  # a run shorter than an epoch: ticks are the share of it, not 0.0005 epochs

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[Any]:
        per = self.steps_per_epoch
        if per <= 0:
            return []
        return [(spacing * per, [v * per for v in values])
                for spacing, values in super().tickValues(minVal / per, maxVal / per, size)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        per = self.steps_per_epoch or 1.0
        if self.percent:
            return [f"{100 * v / per:.3g}%" for v in values]
        return super().tickStrings([v / per for v in values], scale, spacing / per)


def keyed_title(title: str, keys: tuple[tuple[str, tuple[int, int, int]], ...]) -> str:
    """A small panel's title with its legend in it ("Accuracy  ● train  ● val"): a legend inside so
    small a plot would cover its lines."""
    return title + "".join(f"&nbsp;&nbsp;<span style='color:#{r:02x}{g:02x}{b:02x}'>\u25cf {name}</span>"
                           for name, (r, g, b) in keys)


def _plot(layout: pg.GraphicsLayoutWidget, row: int, col: int, title: str, **kwargs: Any) -> pg.PlotItem:
    plot = layout.addPlot(row=row, col=col, title=f"<span style='font-size:9pt'>{title}</span>", **kwargs)
    plot.showGrid(x=True, y=True)
    plot.setMenuEnabled(False)  # pyqtgraph's "A" button (shown once you pan or zoom) restores the auto range
    for name in ("left", "bottom", "top"):
        axis = plot.getAxis(name)
        axis.setPen("k")
        axis.setTextPen("k")
        # opaque grid lines at major ticks only: translucent ones at every level cost most of a redraw
        axis.setTickPen(pg.mkPen(225, 225, 225))
        axis.setStyle(tickAlpha=255, maxTickLevel=0)
        axis.enableAutoSIPrefix(False)  # a "(x0.001)" would go into an axis label these panels do not show
        axis.setZValue(-200)  # the opaque grid under the lines: a constant rate sits on a tick's grid line
    return plot


class CurvesCanvas(QtWidgets.QWidget):
    """Loss per step (raw, smoothed, validation), accuracy at epoch ends, learning rate."""

    READABLE_HEIGHT = 280  # the run dock grows to this when the tab is shown: below it the panels are lines

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(super().minimumSizeHint().width(), self.READABLE_HEIGHT)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("curves")
        self.log_scale = QtWidgets.QCheckBox("Log scale", self)
        self.log_scale.setObjectName("curves_log")
        self.log_scale.setToolTip("Loss on a logarithmic axis")
        self.log_scale.toggled.connect(self._set_log)
        self.note = QtWidgets.QLabel("", self)
        self.note.setObjectName("curves_note")
        self.view = pg.GraphicsLayoutWidget(self)
        self.view.setBackground("w")
        self.view.setObjectName("curves_view")
        self.top_axis = EpochAxis()
        self.loss = _plot(self.view, 0, 0, "Loss", rowspan=2,
                          axisItems={"top": self.top_axis, "bottom": StepAxis()})
        self.loss.showAxis("top")
        self.loss.getAxis("left").setStyle(maxTickLevel=1)  # a log axis labels 0.2, 0.5 at this level
        self.loss.setLabel("bottom", "step")
        self.loss.setLabel("top", "epoch")
        accuracy_keys = (("train_accuracy", BLUE), ("val_accuracy", ORANGE))
        title = keyed_title("Accuracy", tuple((key.split("_")[0], color) for key, color in accuracy_keys))
        self.accuracy = _plot(self.view, 0, 1, title, axisItems={"bottom": StepAxis()})
        self.lr = _plot(self.view, 1, 1, "Learning rate", axisItems={"bottom": StepAxis()})
        for small in (self.accuracy, self.lr):
            small.setXLink(self.loss)
        self.view.ci.layout.setColumnStretchFactor(0, 3)
        self.view.ci.layout.setColumnStretchFactor(1, 1)
        self.loss.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.raw = self._line(self.loss, LIGHT_BLUE, "train (raw)", "peak")
        self.smooth = self._line(self.loss, BLUE, "train (smoothed)", "subsample", width=2)
        self.val = self.loss.plot([], [], pen=None, symbol="o", symbolSize=6, symbolBrush=ORANGE,
                                  symbolPen=None, name="val")
        self.accuracy_lines = {key: self.accuracy.plot([], [], pen=pg.mkPen(color, width=1.5), symbol="o",
                                                       symbolSize=5, symbolBrush=color, symbolPen=None)
                               for key, color in accuracy_keys}  # the legend is in the title, over the plot
        self.lr_line = self._line(self.lr, GREEN, None, "peak", width=1.5)
        # a faint line at zero under the rate: the panel's range then spans 0 to the rate, so a
        # constant rate is a line at the top, not a flat line lost in a range of its own width
        self.lr_floor = self.lr.plot([], [], pen=pg.mkPen(200, 200, 200))
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.log_scale)
        row.addWidget(self.note, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.redraw)
        self.clear()

    @staticmethod
    def _line(plot: pg.PlotItem, color: tuple[int, ...], name: str | None, method: str,
              width: float = 1) -> pg.PlotDataItem:
        line = plot.plot([], [], pen=pg.mkPen(color, width=width), name=name)
        line.setDownsampling(auto=True, method=method)
        line.setClipToView(True)
        return line

    def reset_axes(self) -> None:
        """Every panel back to following its data (a new workflow's run keeps none of the last one's range)."""
        for plot in (self.loss, self.accuracy, self.lr):
            plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            plot.enableAutoRange()

    def clear(self) -> None:
        """Forget every point and the earlier run, and reset the axes."""
        self.history: dict[str, list[tuple[int, float]]] = {}  # by epoch, from epoch_end
        self.steps, self.smoothed, self.rates = Series(), Series(), Series()
        self.val_points, self.accuracy_points = Series(), {key: Series() for key in self.accuracy_lines}
        self._average, self._count = 0.0, 0
        self.top_axis.steps_per_epoch = 0.0
        self._latest = ""  # the note above the plot: the latest point
        self._drawn_at = -math.inf  # time.monotonic() of the last redraw
        self._dirty = True
        self.earlier: dict[str, list[tuple[float, float]]] = {}  # a continued run's earlier part
        self.reset_axes()
        self.redraw()

    def fit_started(self, event: dict[str, Any], run_dir: Path) -> None:
        """A fit_start: a run that continues another's folder draws that run's curves before its own
        (as the Runs tab shows both): the earlier runs' points before this run's first step. The run index
        keeps absolute folders; the event's is as typed, relative to `run_dir`."""
        folder, node = event.get("checkpoint_dir"), event.get("node")
        self.earlier = {}
        if not folder:
            return
        folder = os.path.abspath(run_dir / os.path.expanduser(folder))
        for record in load_runs():  # oldest first: a later run's points win
            if record.get("status") != "running" and (record.get("checkpoints") or {}).get(node) == folder:
                curves = (record.get("steps") or {}).get(node) or {}
                for key in ("train_loss", "lr", "val_loss"):
                    pairs = [(float(p[0]), float(p[1])) for p in curves.get(key) or [] if len(p) == 2]
                    self.earlier[key] = [*self.earlier.get(key, []), *pairs]

    def _add_earlier(self, first: float) -> None:
        for step, loss in sorted(p for p in self.earlier.get("train_loss", []) if p[0] < first):
            self._add_loss(step, loss)
        for step, value in sorted(p for p in self.earlier.get("lr", []) if p[0] < first):
            self.rates.append(step, value)
        for step, value in sorted(p for p in self.earlier.get("val_loss", []) if p[0] < first):
            self.val_points.append(step, value)
        self.earlier = {}

    def _add_loss(self, step: float, loss: float) -> None:
        self.steps.append(step, loss)
        if np.isfinite(loss):  # TensorBoard's debiased exponential moving average
            self._count += 1
            self._average = SMOOTHING * self._average + (1 - SMOOTHING) * loss
            self.smoothed.append(step, self._average / (1 - SMOOTHING ** self._count))

    def add_step(self, event: dict[str, Any]) -> None:
        """A train_step event: one point of the raw, smoothed and learning-rate lines."""
        step, loss = float(event["step"]), float(event["loss"])
        if self.earlier:
            self._add_earlier(step)
        self._add_loss(step, loss)
        if isinstance(event.get("lr"), (int, float)):
            self.rates.append(step, float(event["lr"]))
        if event.get("epoch"):
            self.top_axis.steps_per_epoch = step / float(event["epoch"])
        self._latest = f"step {int(step)} · epoch {event.get('epoch', 0):.2f} · loss {loss:.4g}"
        self._changed()

    def add_epoch(self, event: dict[str, Any]) -> None:
        """An epoch_end event: validation loss at its step, accuracy, and the per-epoch history."""
        metrics = event.get("metrics") or {}
        step = event.get("step")
        for key, value in metrics.items():
            if key in SERIES and isinstance(value, (int, float)):
                self.history.setdefault(key, []).append((int(event["epoch"]), float(value)))
                if step is not None and key == "val_loss":
                    self.val_points.append(float(step), float(value))
                elif step is not None and key in self.accuracy_points:
                    self.accuracy_points[key].append(float(step), float(value))
        self._changed()

    def points(self, key: str) -> list[tuple[int, float]]:
        """(epoch, value) of an epoch series: train_loss, val_loss, train_accuracy, val_accuracy."""
        return list(self.history.get(key, []))

    def step_points(self) -> list[tuple[float, float]]:
        """(step, loss) of every train_step point received."""
        return list(zip(self.steps.x.tolist(), self.steps.y.tolist()))

    def _changed(self) -> None:
        self._dirty = True
        if self.timer.isActive():
            return
        wait = REDRAW_MS - (time.monotonic() - self._drawn_at) * 1000
        if wait <= 0:
            self.redraw()
        else:
            self.timer.start(int(wait) + 1)

    def redraw(self) -> None:
        """Hand the lines their data (drawn on the next paint); nothing while hidden."""
        if not self._dirty or not self.isVisible():
            return
        self._dirty, self._drawn_at = False, time.monotonic()
        self.note.setText(self._latest)
        self.raw.setData(self.steps.x, self.steps.y)
        self.smooth.setData(self.smoothed.x, self.smoothed.y)
        self.val.setData(self.val_points.x, self.val_points.y)
        self.lr_line.setData(self.rates.x, self.rates.y)
        self.lr_floor.setData(self.rates.x[[0, -1]] if self.rates.size else [], [0.0, 0.0] if self.rates.size else [])
        per, last = self.top_axis.steps_per_epoch, self.steps.x[-1] if self.steps.size else 0.0
        self.top_axis.percent = 0 < last < per  # inside the first epoch: its share, not 0.0005 epochs
        self.loss.setLabel("top", "share of the first epoch" if self.top_axis.percent else "epoch")
        for key, line in self.accuracy_lines.items():
            line.setData(self.accuracy_points[key].x, self.accuracy_points[key].y)
        self.top_axis.picture = None  # its ticks depend on steps_per_epoch as well as the range
        self.top_axis.update()

    def _set_log(self, on: bool) -> None:
        self.loss.setLogMode(y=on)
        self.loss.enableAutoRange()

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self.redraw()
