"""Run > Add to Queue (Ctrl+Shift+Enter) and Run > Submit to…: the open workflow file, saved first, goes
to the persistent queue (`nodeflow submit WORKFLOW`) or to Slurm (`--to slurm …`), checked by the same
function as the command line (nodeflow.queue.actions.enqueue). A refusal is one line: in the Queue tab,
or in the dialog, which stays open. The dialog's settings are remembered per workflow file."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from nodeflow.core import UserError
from nodeflow.queue.actions import enqueue
from nodeflow.queue.commands import submit_args
from nodeflow.queue.store import Row

if TYPE_CHECKING:
    from nodeflow.gui.window import MainWindow

SHORTCUTS = ("Ctrl+Shift+Enter", "Ctrl+Shift+Return")  # the keypad's Enter and the main Return key
LABELS = {"--partition": "Partition", "--time": "Time limit", "--gpus": "GPUs per node", "--nodes": "Nodes",
          "--sbatch": "Extra sbatch options", "--setup": "Setup lines", "--device": "Device"}
DEFAULTS: dict[str, Any] = {"to": "local", "device": "", "partition": "", "time": "60", "gpus": 0, "nodes": 1,
                            "sbatch": [], "setup": []}


def add_actions(window: MainWindow, menu: QtWidgets.QMenu) -> None:
    """The Run menu's queue commands."""
    add = menu.addAction("Add to &Queue")
    add.setObjectName("add_to_queue")
    add.setShortcuts([QtGui.QKeySequence(keys) for keys in SHORTCUTS])
    add.setToolTip("Queue the saved workflow for `nodeflow worker` (as `nodeflow submit WORKFLOW`)")
    add.triggered.connect(lambda *_: add_to_queue(window))
    submit = menu.addAction("Su&bmit to… (local queue or Slurm)")
    submit.setObjectName("submit_to")
    submit.triggered.connect(lambda *_: open_dialog(window))


def saved(window: MainWindow, parent: QtWidgets.QWidget) -> bool:
    """The queue runs the file as saved: an untitled or edited workflow is saved first, after asking."""
    if window.meta.path is not None and not window.modified():
        return True
    buttons = QtWidgets.QMessageBox.StandardButton
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, "Save before queuing",
                                "A queued run runs the saved workflow file. Save the workflow now?",
                                buttons.Save | buttons.Cancel, parent)
    box.setObjectName("queue_save_prompt")
    box.setDefaultButton(buttons.Save)
    return box.exec() == buttons.Save and window.save()


def submit(window: MainWindow, **options: Any) -> tuple[Row, str]:
    """`nodeflow submit WORKFLOW` with `options` (its argument names), typed in the editor's run folder."""
    args = submit_args(str(window.meta.path))
    for name, value in options.items():
        setattr(args, name, value)
    return enqueue(args, cwd=str(window.run_dir))


def one_line(exc: UserError) -> str:
    """The refusal as the command line prints it, each option named by its label in the dialog."""
    text = str(exc).replace("field '--to': ", "")  # Slurm's own state: no field of the dialog
    for flag, label in LABELS.items():
        text = text.replace(f"field '{flag}'", label)
    return text


def show_queued(window: MainWindow, row: Row, note: str) -> None:
    tab = window.runs.panel.queue
    window.runs.panel.tabs.setCurrentWidget(tab)
    tab.refresh()
    tab.select(row.id)
    tab.status.setText(note)


def add_to_queue(window: MainWindow) -> None:
    """Run > Add to Queue: the open workflow to the local queue; the Queue tab shows it selected."""
    tab = window.runs.panel.queue
    window.runs.panel.tabs.setCurrentWidget(tab)
    if not saved(window, window):
        tab.status.setText("Not queued: a queued run runs the saved workflow file; save it first.")
        return
    try:
        row, note = submit(window)
    except UserError as exc:
        tab.status.setText(f"Not queued: {one_line(exc)}")
        return
    show_queued(window, row, note)


def open_dialog(window: MainWindow) -> None:
    dialog = SubmitDialog(window)
    if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted and dialog.row is not None:
        show_queued(window, dialog.row, dialog.note)


def settings_key(path: Path) -> str:
    return "submit_to/" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:20]


def remembered(window: MainWindow) -> dict[str, Any]:
    """What the dialog last submitted for this workflow file (the defaults for a new one)."""
    if window.meta.path is None:
        return dict(DEFAULTS)
    try:
        found = json.loads(str(window.settings.value(settings_key(window.meta.path), "") or "{}"))
    except ValueError:
        found = {}
    found = found.get("options", {}) if isinstance(found, dict) else {}
    return {k: found[k] if isinstance(found.get(k), type(v)) else v for k, v in DEFAULTS.items()}


def remember(window: MainWindow, values: dict[str, Any]) -> None:
    if window.meta.path is not None:
        window.settings.setValue(settings_key(window.meta.path),
                                 json.dumps({"workflow": str(window.meta.path), "options": values}))


class SubmitDialog(QtWidgets.QDialog):
    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.setObjectName("submit_dialog")
        self.setWindowTitle("Submit to")
        self.window_ = window
        self.row: Row | None = None
        self.note = ""
        name = window.meta.path.name if window.meta.path else "untitled (saved when you submit)"
        self.local = QtWidgets.QRadioButton("Local queue: `nodeflow worker` runs it", self)
        self.local.setObjectName("submit_local")
        self.slurm = QtWidgets.QRadioButton("Slurm: submitted as a job now (submitit)", self)
        self.slurm.setObjectName("submit_slurm")
        self.device = QtWidgets.QComboBox(self)
        self.device.setObjectName("submit_device")
        self.device.setEditable(True)
        self.device.addItems(["any", "cpu", "cuda", "cuda:0", "cuda:1"])
        self.device.setToolTip("The device it needs (any: the worker's; cuda: any cuda:N)")
        self.group = QtWidgets.QGroupBox("Slurm", self)
        self.partition = QtWidgets.QLineEdit(self.group)
        self.partition.setPlaceholderText("the cluster's default")
        self.time = QtWidgets.QLineEdit(self.group)
        self.time.setPlaceholderText("MINUTES, HH:MM:SS or D-HH:MM:SS")
        self.time.setToolTip("Of each start of the job, in minutes, or HH:MM:SS, or D-HH:MM:SS; the job is warned "
                             "90 s before it, writes its interrupt checkpoint and is requeued")
        self.gpus = QtWidgets.QSpinBox(self.group)
        self.gpus.setRange(0, 64)
        self.nodes = QtWidgets.QSpinBox(self.group)
        self.nodes.setRange(1, 4096)
        self.sbatch = QtWidgets.QPlainTextEdit(self.group)
        self.sbatch.setPlaceholderText("one per line, e.g.\n--mem=8G\n--account=myproject")
        self.setup = QtWidgets.QPlainTextEdit(self.group)
        self.setup.setPlaceholderText("shell lines run before the job, e.g.\nmodule load cuda\n"
                                      "source ~/venv/bin/activate")
        form = QtWidgets.QFormLayout(self.group)
        for widget, name_, label in ((self.partition, "partition", "Partition:"),
                                     (self.time, "time", "Time limit (minutes):"),
                                     (self.gpus, "gpus", "GPUs per node:"), (self.nodes, "nodes", "Nodes:"),
                                     (self.sbatch, "sbatch", "Extra sbatch options:"),
                                     (self.setup, "setup", "Setup lines:")):
            widget.setObjectName(f"submit_{name_}")
            if isinstance(widget, QtWidgets.QPlainTextEdit):
                widget.setFixedHeight(widget.fontMetrics().lineSpacing() * 4 + 12)
            form.addRow(label, widget)
        self.error = QtWidgets.QLabel("", self)
        self.error.setObjectName("submit_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Cancel, self)
        self.submit_button = self.buttons.addButton("Submit", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.submit_button.setObjectName("submit_button")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        device_row = QtWidgets.QHBoxLayout()
        device_row.addWidget(QtWidgets.QLabel("Device:", self))
        device_row.addWidget(self.device, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(QtWidgets.QLabel(f"Workflow: {name}", self))
        layout.addWidget(self.local)
        layout.addWidget(self.slurm)
        layout.addLayout(device_row)
        layout.addWidget(self.group)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.slurm.toggled.connect(self.group.setEnabled)
        self.fill(remembered(window))
        self.resize(520, self.sizeHint().height())

    def fill(self, values: dict[str, Any]) -> None:
        (self.slurm if values["to"] == "slurm" else self.local).setChecked(True)
        self.group.setEnabled(values["to"] == "slurm")
        self.device.setCurrentText(values["device"] or "any")
        self.partition.setText(values["partition"])
        self.time.setText(values["time"])
        self.gpus.setValue(values["gpus"])
        self.nodes.setValue(values["nodes"])
        self.sbatch.setPlainText("\n".join(values["sbatch"]))
        self.setup.setPlainText("\n".join(values["setup"]))

    def values(self) -> dict[str, Any]:
        device = self.device.currentText().strip()
        return {"to": "slurm" if self.slurm.isChecked() else "local", "device": "" if device == "any" else device,
                "partition": self.partition.text().strip(), "time": self.time.text().strip() or "60",
                "gpus": self.gpus.value(), "nodes": self.nodes.value(),
                "sbatch": [s.strip() for s in self.sbatch.toPlainText().splitlines() if s.strip()],
                "setup": [s.strip() for s in self.setup.toPlainText().splitlines() if s.strip()]}

    def accept(self) -> None:
        """Save if needed, check and submit; a refusal shows under the fields and the dialog stays open."""
        values = self.values()
        if not saved(self.window_, self):
            self.error.setText("Not submitted: a queued run runs the saved workflow file; save it first.")
            return
        remember(self.window_, values)
        options = dict(values) if values["to"] == "slurm" else {"to": "local", "device": values["device"]}
        options["partition"] = options.get("partition") or None
        self.error.setText("")
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            self.row, self.note = submit(self.window_, **options)
        except UserError as exc:
            self.error.setText(one_line(exc))
            return
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        super().accept()
