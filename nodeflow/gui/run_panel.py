"""The run panel docked at the bottom: controls, progress with ETA, console, curves, checkpoints, runs, issues."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from nodeflow.console import Console, clock
from nodeflow.gui.checkpoints_panel import CheckpointsPanel
from nodeflow.gui.plot import CurvesCanvas
from nodeflow.gui.queue_panel import QueuePanel
from nodeflow.gui.runs_panel import RunsPanel


def progress_text(event: dict[str, Any], started: float, now: float) -> tuple[float, str]:
    """Overall fraction done and `Epoch 3/20 · batch 12/19 · ETA 0:14` for a batch_progress event."""
    epoch, epochs = event["epoch"], max(1, event["epochs"])
    fraction = min(1.0, ((epoch - 1) + event["batch"] / max(1, event["batches"])) / epochs)
    text = f"Epoch {epoch}/{epochs} · batch {event['batch']}/{event['batches']}"
    if fraction > 0 and now > started:
        left = int((now - started) * (1 - fraction) / fraction)
        text += f" · ETA {left // 60}:{left % 60:02d}"
    return fraction, text


class LineWriter:
    """A text stream that hands each finished line to `emit` (lets the CLI's Console print here)."""

    def __init__(self, emit: Any):
        self.emit, self.pending = emit, ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.emit(line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class RunPanel(QtWidgets.QWidget):
    def __init__(self, run_dir: Path, settings: QtCore.QSettings, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.validate_button = QtWidgets.QPushButton("Validate", self)
        self.check_button = QtWidgets.QPushButton("Check", self)
        self.check_button.setToolTip("One batch through the graph, nothing written: what flows on each link, "
                                     "model sizes and the ETA")
        self.run_button = QtWidgets.QPushButton("▶ Run", self)
        self.stop_button = QtWidgets.QPushButton("■ Stop", self)
        self.device = QtWidgets.QComboBox(self)
        self.device.addItem("auto (Trainer setting)", "")
        self.device.addItem("cpu", "cpu")
        self.device.setToolTip("Device for every Trainer in this run; auto keeps each Trainer's own setting")
        self.progress = QtWidgets.QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QtWidgets.QLabel("Idle", self)
        for widget, name in ((self.validate_button, "validate"), (self.check_button, "check"), (self.run_button, "run"),
                             (self.stop_button, "stop"), (self.device, "device"), (self.progress, "progress"),
                             (self.status, "run_status")):
            widget.setObjectName(name)
        self.stop_button.setEnabled(False)
        controls = QtWidgets.QHBoxLayout()
        for widget in (self.validate_button, self.check_button, self.run_button, self.stop_button,
                       QtWidgets.QLabel("Device:"), self.device):
            controls.addWidget(widget)
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.status, 1)
        self.console = QtWidgets.QPlainTextEdit(self)
        self.console.setObjectName("console")
        self.console.setReadOnly(True)
        self.console.setMaximumBlockCount(20000)
        self.console.setStyleSheet("font-family: monospace;")
        self.curves = CurvesCanvas()
        self.checkpoints = CheckpointsPanel(run_dir, settings, self)
        self.runs = RunsPanel(self)
        self.queue = QueuePanel(self)  # the persistent queue (`nodeflow submit`, `nodeflow worker`)
        self.issues = QtWidgets.QListWidget(self)
        self.issues.setObjectName("issues")
        self.samples = QtWidgets.QPlainTextEdit(self)  # a language model's texts, sampled after each epoch
        self.samples.setObjectName("samples")
        self.samples.setReadOnly(True)
        self.samples.setPlaceholderText("Texts a GPT or ModernTransformer writes after each epoch appear here.")
        self.tabs = QtWidgets.QTabWidget(self)
        self.tabs.setObjectName("run_tabs")
        for widget, title in ((self.console, "Console"), (self.curves, "Curves"), (self.checkpoints, "Checkpoints"),
                              (self.runs, "Runs"), (self.queue, "Queue"), (self.issues, "Issues"),
                              (self.samples, "Samples")):
            self.tabs.addTab(widget, title)
        self.tabs.currentChanged.connect(lambda _: self.tabs.currentWidget() is self.runs and self.runs.refresh())
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.tabs, 1)
        self.checkpoints.message.connect(self.print)
        self.console_sink = Console(LineWriter(self.print))
        self._fit_started = 0.0
        self.check_text = ""  # the ETA of the last Check (dry run)
        self.dry_run = False  # the child now running is a Check: its end is no "Run completed"

    def print(self, line: str) -> None:
        self.console.appendPlainText(line)

    def set_devices(self, devices: list[dict[str, str]]) -> None:
        for device in devices:
            if device["device"] not in ("auto", "cpu") and self.device.findData(device["device"]) < 0:
                self.device.addItem(device["label"], device["device"])

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.validate_button.setEnabled(not running)
        self.check_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.device.setEnabled(not running)

    def reset(self) -> None:
        """Clear what the last run or check of another graph left: console, curves, progress, status, issues."""
        self.console.clear()
        self.console_sink = Console(LineWriter(self.print))
        self.curves.clear()
        self.samples.clear()
        self.issues.clear()
        self.progress.setValue(0)
        self.status.setText("Idle")
        self.check_text = ""

    def run_started(self, path: Path, dry_run: bool = False, note: str = "") -> None:
        self.reset()
        self.status.setText("Starting…")
        self.dry_run = dry_run
        self.print(f"$ nodeflow run {path}" + (" --dry-run" if dry_run else "") + note)
        self.set_running(True)

    def show_event(self, e: dict[str, Any]) -> None:
        """Console lines (the CLI's own renderer), progress, curves and checkpoint refreshes."""
        kind = e["event"]
        if kind == "run_end" and self.dry_run:
            self.print(f"Check {'passed' if e.get('status') == 'completed' else e.get('status')} "
                       f"in {e.get('seconds', 0):.1f}s")
        else:
            self.console_sink(e)
        if kind == "fit_start":
            self._fit_started = time.monotonic()
            self.curves.fit_started(e, self.checkpoints.run_dir)  # a continued run: its earlier part first
        elif kind == "batch_progress":
            fraction, text = progress_text(e, self._fit_started, time.monotonic())
            self.progress.setValue(int(1000 * fraction))
            self.status.setText(text)
        elif kind == "train_step":
            self.curves.add_step(e)
        elif kind == "epoch_end":
            self.curves.add_epoch(e)
            texts = (e.get("report") or {}).get("generation_samples")
            if texts:
                rule = "\n" + "─" * 40 + "\n"
                self.samples.setPlainText(f"After epoch {e['epoch']}/{e['epochs']}:\n\n" + rule.join(texts))
        elif kind == "dry_run":
            self.check_text = (f"{e['node']}: about {clock(e['epoch_seconds'])} per epoch, "
                               f"{clock(e['run_seconds'])} for {e['epochs']} epochs")
            self.status.setText(self.check_text)
        elif kind in ("checkpoint_saved", "checkpoint_deleted"):
            self.checkpoints.refresh_soon()

    def run_ended(self, code: int, summary: str) -> None:
        if code != 0:  # a clean end is already in the console, in the runner's own words
            self.print(summary)
        self.status.setText(f"{summary} {self.check_text}".strip())
        if code == 0:
            self.progress.setValue(1000)
        self.set_running(False)
        self.checkpoints.refresh()
        if self.tabs.currentWidget() is self.runs:
            self.runs.refresh()

