"""How long the Curves tab takes to redraw with 1k, 10k and 100k loss points, pyqtgraph (the editor's
widget) against the same curves drawn with matplotlib (the editor's earlier plot library), offscreen.

    python benchmarks/curves.py [--points 1000 10000 100000] [--redraws 20] [--size 1000 320]

Each library gets the same synthetic run (20 epochs of noisy decaying loss, a cosine learning
rate, validation and accuracy at epoch ends). A redraw is one more point, the lines handed their
data and the whole widget painted into a pixmap (QWidget.grab): what the editor's redraw timer
costs the event loop (wall time, and the process's CPU time: on a shared machine the CPU time is the
steadier number). The matplotlib variant thins the raw line to min/max per pixel column
itself, as the pyqtgraph widget does, so neither library draws 100k segments. Prints the median and
worst redraw in ms, the median CPU ms, and the time to take in all the points (one event each).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PySide6 import QtWidgets

EPOCHS = 20


def synthetic(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train_step events, epoch_end events) of an n-step run."""
    rng = np.random.default_rng(0)
    per = n / EPOCHS
    steps = [{"step": i, "epoch": i / per, "loss": 2.5 * math.exp(-4 * i / n) + 0.1 + 0.2 * rng.random(),
              "lr": 1e-3 * (1 + math.cos(math.pi * i / n)) / 2} for i in range(1, n + 1)]
    ends = [{"epoch": e, "step": int(e * per), "metrics": {
        "val_loss": 2.5 * math.exp(-4 * e / EPOCHS) + 0.25, "train_accuracy": 1 - math.exp(-4 * e / EPOCHS),
        "val_accuracy": 1 - math.exp(-3 * e / EPOCHS)}} for e in range(1, EPOCHS + 1)]
    return steps, ends


def min_max(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most two points per pixel column: each column's lowest and highest value."""
    if len(x) <= 2 * columns:
        return x, y
    starts = np.linspace(0, len(x), columns + 1).astype(int)[:-1]
    low, high = np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)
    return np.repeat(x[starts], 2), np.column_stack([low, high]).ravel()


class MatplotlibCurves:
    """The same curves with matplotlib's Qt canvas: loss (raw, smoothed, val) by step with epochs on
    top, accuracy and learning rate beside it; lines updated in place, a fixed layout."""

    def __init__(self, size: tuple[int, int]):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        self.figure = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.resize(*size)
        grid = self.figure.add_gridspec(2, 2, width_ratios=(3, 1), left=0.05, right=0.98, bottom=0.14, top=0.86,
                                        wspace=0.15, hspace=0.5)
        self.loss = self.figure.add_subplot(grid[:, 0])
        self.accuracy, self.lr = self.figure.add_subplot(grid[0, 1]), self.figure.add_subplot(grid[1, 1])
        self.per_epoch = 1.0
        self.loss.secondary_xaxis("top", functions=(lambda s: s / self.per_epoch, lambda e: e * self.per_epoch))
        for axes, title in ((self.loss, "Loss"), (self.accuracy, "Accuracy"), (self.lr, "Learning rate")):
            axes.set_title(title, fontsize=9)
            axes.tick_params(labelsize=7)
            axes.grid(alpha=0.3)
            axes.xaxis.set_major_locator(MaxNLocator(nbins=5))
        self.raw, = self.loss.plot([], [], color="#aec7e8", lw=1, label="train (raw)")
        self.smooth, = self.loss.plot([], [], color="#1f77b4", lw=2, label="train (smoothed)")
        self.val, = self.loss.plot([], [], "o", color="#ff7f0e", ms=4, label="val")
        self.loss.legend(fontsize=7)
        self.acc = [self.accuracy.plot([], [], marker="o", ms=3)[0] for _ in range(2)]
        self.rate, = self.lr.plot([], [], color="#2ca02c")
        self.x: list[float] = []
        self.y: list[float] = []
        self.ema: list[float] = []
        self.rates: list[float] = []
        self.ends: list[dict[str, Any]] = []
        self.canvas.show()

    def add_step(self, e: dict[str, Any]) -> None:
        average = e["loss"] if not self.ema else 0.9 * self.ema[-1] + 0.1 * e["loss"]
        self.x.append(e["step"]), self.y.append(e["loss"]), self.ema.append(average), self.rates.append(e["lr"])
        self.per_epoch = e["step"] / e["epoch"]

    def add_epoch(self, e: dict[str, Any]) -> None:
        self.ends.append(e)

    def redraw(self) -> QtWidgets.QWidget:
        x, columns = np.asarray(self.x), self.canvas.width()
        self.raw.set_data(*min_max(x, np.asarray(self.y), columns))
        stride = max(1, len(x) // columns)
        self.smooth.set_data(x[::stride], np.asarray(self.ema)[::stride])
        self.rate.set_data(x[::stride], np.asarray(self.rates)[::stride])
        at = [e["step"] for e in self.ends]
        self.val.set_data(at, [e["metrics"]["val_loss"] for e in self.ends])
        for line, key in zip(self.acc, ("train_accuracy", "val_accuracy")):
            line.set_data(at, [e["metrics"][key] for e in self.ends])
        for axes in (self.loss, self.accuracy, self.lr):
            axes.relim()
            axes.autoscale_view()
        self.canvas.draw()
        return self.canvas


class PyqtgraphCurves:
    """The editor's Curves tab."""

    def __init__(self, size: tuple[int, int]):
        from nodeflow.gui.plot import CurvesCanvas

        self.widget = CurvesCanvas()
        self.widget.resize(*size)
        self.widget.show()
        self.add_step, self.add_epoch = self.widget.add_step, self.widget.add_epoch

    def redraw(self) -> QtWidgets.QWidget:
        self.widget.timer.stop()
        self.widget.redraw()
        return self.widget


def measure(kind: type, n: int, redraws: int, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """(seconds to take in n points, median and worst redraw in ms, median CPU ms of a redraw)."""
    steps, ends = synthetic(n + redraws)
    curves = kind(size)
    started = time.perf_counter()
    per = n // EPOCHS
    for event in steps[:n]:
        curves.add_step(event)
        if event["step"] % per == 0:
            curves.add_epoch(ends[event["step"] // per - 1])
    ingest = time.perf_counter() - started
    curves.redraw().grab()  # the first draw lays out the axes
    times, cpu = [], []
    for event in steps[n:]:
        started, used = time.perf_counter(), time.process_time()
        curves.add_step(event)
        curves.redraw().grab()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    return ingest, statistics.median(times), max(times), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--redraws", type=int, default=20)
    parser.add_argument("--size", type=int, nargs=2, default=[1000, 320])
    parser.add_argument("--only", choices=("pyqtgraph", "matplotlib"))
    args = parser.parse_args()
    QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    print(f"offscreen {args.size[0]}x{args.size[1]}, {args.redraws} redraws each, {os.cpu_count()} CPUs")
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'library':12s}{'points':>9s}{'take in':>10s}{'redraw median':>15s}{'worst':>9s}{'CPU median':>12s}")
    for name, kind in (("pyqtgraph", PyqtgraphCurves), ("matplotlib", MatplotlibCurves)):
        if args.only not in (None, name):
            continue
        for n in args.points:
            ingest, median, worst, cpu = measure(kind, n, args.redraws, tuple(args.size))
            print(f"{name:12s}{n:9d}{ingest:9.2f}s{median:12.1f} ms{worst:6.1f} ms{cpu:9.1f} ms", flush=True)


if __name__ == "__main__":
    main()
