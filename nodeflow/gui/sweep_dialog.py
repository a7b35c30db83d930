"""Run > Sweep…: pick params from the graph with their ranges, then run `nodeflow sweep` in a child
process; its trials and plots show in the Run panel's Sweep tab (nodeflow.gui.sweep_panel).

The rows are checked with the sweep's own parser (nodeflow.sweep.space), the same check as the
command line's: a bad range is one line under the table and the dialog stays open.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6 import QtWidgets

from nodeflow.core import UserError
from nodeflow.sweep.space import parse_params

if TYPE_CHECKING:
    from nodeflow.gui.window import MainWindow


def suggested_range(param: Any, value: Any) -> str:
    """A starting range for a param: a decade either side of a positive float, its choices, or its value."""
    if param.type == "float" and isinstance(value, (int, float)) and value > 0:
        return f"loguniform:{value / 10:.3g}:{value * 10:.3g}"
    if param.type == "choice":
        return "choice:" + ",".join(param.choices)
    if param.type == "int" and isinstance(value, int):
        return f"choice:{max(1, value // 2)},{value},{value * 2}"
    return f"choice:{value}"


class SweepDialog(QtWidgets.QDialog):
    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.setObjectName("sweep_dialog")
        self.setWindowTitle("Sweep")
        self.window_ = window
        self.workflow = window.workflow()
        self.choices: dict[str, str] = {}  # Node.field -> suggested range
        for node in self.workflow.nodes.values():
            spec = window.registry.get(node.type)
            for param in spec.params if spec else ():
                if param.type in ("int", "float", "choice", "bool"):
                    self.choices[f"{node.name}.{param.name}"] = suggested_range(param, node.params.get(param.name))
        self.table = QtWidgets.QTableWidget(0, 2, self)
        self.table.setObjectName("sweep_params")
        self.table.setHorizontalHeaderLabels(
            ["Param", "Range (loguniform:LO:HI, uniform:LO:HI, int:LO:HI, choice:A,B)"])
        self.table.horizontalHeader().setStretchLastSection(True)
        add = QtWidgets.QPushButton("Add param", self)
        add.setObjectName("sweep_add")
        add.clicked.connect(lambda: self.add_row())
        self.trials = QtWidgets.QSpinBox(self)
        self.trials.setObjectName("sweep_trials")
        self.trials.setRange(1, 10_000)
        self.trials.setValue(12)
        self.metric = QtWidgets.QLineEdit("val_loss", self)
        self.metric.setObjectName("sweep_metric")
        self.pruner = QtWidgets.QLineEdit("median", self)
        self.pruner.setObjectName("sweep_pruner")
        self.error = QtWidgets.QLabel("", self)
        self.error.setObjectName("sweep_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        buttons = QtWidgets.QDialogButtonBox(self)
        start = buttons.addButton("Start sweep", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        start.setObjectName("sweep_start")
        buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QtWidgets.QFormLayout()
        form.addRow("Trials", self.trials)
        form.addRow("Metric", self.metric)
        form.addRow("Pruner", self.pruner)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(add)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(640, 360)
        lr = next((name for name in self.choices if name.endswith(".lr")), None)
        self.add_row(lr)

    def add_row(self, name: str | None = None) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        box = QtWidgets.QComboBox(self.table)
        box.setObjectName(f"sweep_param_{row}")
        box.addItems(list(self.choices))
        text = QtWidgets.QLineEdit(self.table)
        text.setObjectName(f"sweep_range_{row}")
        box.currentTextChanged.connect(lambda name: text.setText(self.choices.get(name, "")))
        if name:
            box.setCurrentText(name)
        text.setText(self.choices.get(box.currentText(), ""))
        self.table.setCellWidget(row, 0, box)
        self.table.setCellWidget(row, 1, text)

    def items(self) -> list[str]:
        """The rows as `--param` items."""
        out = []
        for row in range(self.table.rowCount()):
            name = self.table.cellWidget(row, 0).currentText()  # type: ignore[union-attr]
            text = self.table.cellWidget(row, 1).text().strip()  # type: ignore[union-attr]
            if name and text:
                out.append(f"{name}={text}")
        return out

    def accept(self) -> None:
        try:
            parse_params(self.workflow, self.window_.registry, self.items())
        except UserError as exc:
            self.error.setText(str(exc).replace(f"{self.workflow.label}: ", ""))
            return
        if self.window_.meta.path is None or self.window_.modified():
            self.error.setText("Save the workflow first: the sweep runs the saved file")
            return
        super().accept()


def open_sweep(window: MainWindow) -> None:
    """Run > Sweep…: the dialog, then the study in a child process shown in the Sweep tab."""
    from nodeflow.gui.sweep_panel import SweepPanel

    dialog = SweepDialog(window)
    if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return
    panel = SweepPanel.of(window)
    panel.start(window.meta.path, dialog.items(), dialog.trials.value(), dialog.metric.text().strip() or "val_loss",
                dialog.pruner.text().strip() or "median")
