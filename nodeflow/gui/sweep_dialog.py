"""Run > Sweep…: pick params from the graph with their ranges, then run `nodeflow sweep` in a child
process; its trials and plots show in the Run panel's Sweep tab (nodeflow.gui.sweep_panel).

The rows are checked with the sweep's own parser (nodeflow.sweep.space), the same check as the
command line's: a bad range is one line under the table and the dialog stays open.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pathlib import Path

from PySide6 import QtWidgets

from nodeflow.core import UserError
from nodeflow.core.tasks import ALL_MONITORS, TASKS
from nodeflow.gui.convert import flow_nodes
from nodeflow.gui.graph import spec_of
from nodeflow.sweep.existing import Existing, existing_study, fresh_name
from nodeflow.sweep.space import parse_params

if TYPE_CHECKING:
    from nodeflow.gui.window import MainWindow


def suggested_range(param: Any, value: Any) -> str:
    """A starting range for a param: a decade either side of a positive float, its choices, or its value."""
    if param.type == "float" and isinstance(value, (int, float)) and value > 0:
        low, high = value / 10, value * 10  # kept inside the param's bounds
        low = max(low, param.min) if param.min is not None and param.min > 0 else low
        high = min(high, param.max) if param.max is not None else high
        return f"loguniform:{low:.4g}:{high:.4g}" if low < high else f"choice:{value}"
    if param.type == "choice":
        return "choice:" + ",".join(param.choices)
    if param.type == "int" and isinstance(value, int):
        return f"choice:{max(1, value // 2)},{value},{value * 2}"
    return f"choice:{value}"


PRUNERS = (("median", "Median: stop a trial below the median, after 5 complete trials"),
           ("median:1", "Median, after 1 complete trial (short sweeps)"),
           ("none", "None: every trial runs all its epochs"))


def metric_choices(window: MainWindow) -> list[str]:
    """The per-epoch metrics the graph's Trainers report (their data's tasks), val_loss first;
    `Trainer.metric` when there are several Trainers."""
    graph = window.graph
    trainers = [n for n in flow_nodes(graph) if (spec := spec_of(n)) is not None and spec.trains]
    choices: list[str] = []
    for trainer in trainers:
        ports = {name: port.connected_ports() for name, port in trainer.inputs().items()}
        source = ports.get("train") or []
        tasks = graph.tasks_given(source[0].node(), source[0].name()) if source else None
        monitors = [m for task in (tasks or ()) if task in TASKS for m in TASKS[task].monitors] or list(ALL_MONITORS)
        names = [m for m in dict.fromkeys(["val_loss", "train_loss", *monitors])
                 if not m.startswith("val_") or ports.get("val")]
        choices += [f"{trainer.name()}.{m}" if len(trainers) > 1 else m for m in names]
    return choices or ["val_loss"]


class SweepDialog(QtWidgets.QDialog):
    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.setObjectName("sweep_dialog")
        self.setWindowTitle("Sweep")
        self.window_ = window
        self.workflow = window.workflow()
        self.choices: dict[str, str] = {}  # Node.field -> suggested range
        self.numeric: list[str] = []  # the int and float params: what a new row offers first
        for node in self.workflow.nodes.values():
            spec = window.registry.get(node.type)
            for param in spec.params if spec else ():
                if param.type in ("int", "float", "choice", "bool"):
                    self.choices[f"{node.name}.{param.name}"] = suggested_range(param, node.params.get(param.name))
                if param.type in ("int", "float"):
                    self.numeric.append(f"{node.name}.{param.name}")
        self.table = QtWidgets.QTableWidget(0, 2, self)
        self.table.setObjectName("sweep_params")
        self.table.setHorizontalHeaderLabels(
            ["Param", "Range (loguniform:LO:HI, uniform:LO:HI, int:LO:HI, choice:A,B)"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        add = QtWidgets.QPushButton("Add param", self)
        add.setObjectName("sweep_add")
        add.clicked.connect(lambda: self.add_row())
        self.trials = QtWidgets.QSpinBox(self)
        self.trials.setObjectName("sweep_trials")
        self.trials.setRange(1, 10_000)
        self.trials.setValue(12)
        self.trials.setToolTip("Trials to run now, added to those the study already holds")
        stem = Path(window.meta.path).stem if window.meta.path else "sweep"
        self.study = QtWidgets.QLineEdit(stem, self)
        self.study.setObjectName("sweep_study")
        self.study.setToolTip("Running a study again adds trials to it; a new name starts a new study")
        self.held = QtWidgets.QLabel("", self)
        self.held.setObjectName("sweep_held")
        self.study.textChanged.connect(self._show_held)
        self.metric_box = QtWidgets.QComboBox(self)  # not `metric`: QWidget.metric() is Qt's
        self.metric_box.setObjectName("sweep_metric")
        self.metric_box.addItems(metric_choices(window))
        self.metric_box.setToolTip("The per-epoch metric the sweep optimises: losses are minimised, the rest "
                                   "maximised")
        self.pruner = QtWidgets.QComboBox(self)
        self.pruner.setObjectName("sweep_pruner")
        for key, text in PRUNERS:
            self.pruner.addItem(text, key)
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
        form.addRow("Study", self.study)
        form.addRow("", self.held)
        form.addRow("More trials", self.trials)
        form.addRow("Metric", self.metric_box)
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
        self._show_held()

    def existing(self) -> Existing | None:
        name = self.study.text().strip()
        return existing_study(Path(self.window_.run_dir), name) if name else None

    def _show_held(self) -> None:
        found = self.existing()
        self.held.setText(f"This study already has {found.trials} trial{'' if found.trials == 1 else 's'}; "
                          "the sweep adds More trials to it"
                          if found and found.trials else "A new study")

    def total_trials(self) -> int:
        """The study's total after this sweep: what it holds now plus More trials."""
        found = self.existing()
        return (found.trials if found else 0) + self.trials.value()

    def add_row(self, name: str | None = None) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        box = QtWidgets.QComboBox(self.table)
        box.setObjectName(f"sweep_param_{row}")
        box.addItems(list(self.choices))
        if name is None:  # the first number param not listed yet
            listed = {self.table.cellWidget(r, 0).currentText() for r in range(row)}  # type: ignore[union-attr]
            name = next((n for n in self.numeric if n not in listed), None)
        text = QtWidgets.QLineEdit(self.table)
        text.setObjectName(f"sweep_range_{row}")
        box.currentTextChanged.connect(lambda name: text.setText(self.choices.get(name, "")))
        if name:
            box.setCurrentText(name)
        text.setText(self.choices.get(box.currentText(), ""))
        self.table.setCellWidget(row, 0, box)
        self.table.setCellWidget(row, 1, text)
        self.table.resizeColumnToContents(0)

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
            dims = parse_params(self.workflow, self.window_.registry, self.items())
        except UserError as exc:
            text = str(exc).replace(f"{self.workflow.label}: ", "")
            self.error.setText(text.replace("field '--param': ", "").replace("--param: ", ""))
            return
        if not self.study.text().strip():
            self.error.setText("Name the study")
            return
        if not self._same_study({d.name: d.text for d in dims}):
            return
        if (self.window_.meta.path is None or self.window_.modified()) and not self._save():
            return
        super().accept()

    def _same_study(self, params: dict[str, str]) -> bool:
        """A study keeps the params it was started with: another set is refused here, with a new name offered."""
        found, name = self.existing(), self.study.text().strip()
        if found is None:
            return True
        metric = self.metric_box.currentText()
        checks: list[tuple[str, Any]] = [("params", params), ("metric", metric)]
        if self.window_.meta.path is not None:
            checks.append(("workflow", str(Path(self.window_.meta.path).resolve())))
        for key, mine in checks:
            theirs = found.marks.get(key)
            if theirs is not None and theirs != mine:
                shown = ", ".join(f"{k}={v}" for k, v in theirs.items()) if isinstance(theirs, dict) else theirs
                fresh = fresh_name(Path(self.window_.run_dir), name)
                self.error.setText(f"Study '{name}' was started with {key} {shown}; the Study field now names a "
                                   f"new study, '{fresh}': press Start sweep to run it")
                self.study.setText(fresh)
                return False
        return True

    def _save(self) -> bool:
        """The sweep runs the saved file: offer to save it now."""
        answer = QtWidgets.QMessageBox.question(
            self, "Sweep", "The sweep runs the saved workflow file. Save the workflow now?",
            QtWidgets.QMessageBox.StandardButton.Save | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Save)
        if answer != QtWidgets.QMessageBox.StandardButton.Save or not self.window_.save():
            self.error.setText("Not saved: the sweep runs the saved workflow file")
            return False
        return True


def open_sweep(window: MainWindow) -> None:
    """Run > Sweep…: the dialog, then the study in a child process shown in the Sweep tab."""
    from nodeflow.gui.sweep_panel import SweepPanel

    dialog = SweepDialog(window)
    if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return
    panel = SweepPanel.of(window)
    panel.start(window.meta.path, dialog.items(), dialog.total_trials(), dialog.metric_box.currentText(),
                dialog.pruner.currentData(), dialog.study.text().strip())
