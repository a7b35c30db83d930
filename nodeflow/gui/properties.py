"""The properties panel: the selected node's name, type, help and current params, in the
sections of its parameter dialog, scrolling inside its dock (it never grows the window)."""
from __future__ import annotations

from NodeGraphQt import BaseNode
from PySide6 import QtCore, QtWidgets

from typing import Any

from PySide6 import QtGui

from nodeflow.gui.graph import params_of, spec_of
from nodeflow.gui.results import confusion_image, number


def show_value(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if value == "":
        return "(empty)"
    return str(value)


class PropertiesPanel(QtWidgets.QScrollArea):
    edit_requested = QtCore.Signal(object)  # the node

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("properties")
        self.setWidgetResizable(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.node: BaseNode | None = None
        self.title = QtWidgets.QLabel("Nothing selected")
        self.title.setObjectName("properties_title")
        self.title.setStyleSheet("font-weight: bold; font-size: 13px;")
        self.about = QtWidgets.QLabel()
        self.about.setWordWrap(True)
        self.about.setStyleSheet("color: #888;")
        self.edit = QtWidgets.QPushButton("Edit parameters…")
        self.edit.setObjectName("edit_params")
        self.edit.clicked.connect(lambda: self.node is not None and self.edit_requested.emit(self.node))
        self.sections = QtWidgets.QVBoxLayout()
        body = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(body)
        layout.addWidget(self.title)
        layout.addWidget(self.about)
        layout.addWidget(self.edit)
        layout.addLayout(self.sections)
        layout.addStretch(1)
        self.setWidget(body)
        self.show_node(None)

    def show_node(self, node: BaseNode | None, result: dict[str, Any] | None = None) -> None:
        """The node's params by section; `result`: what the last run said about it (Results.by_node)."""
        self.node = node if node is not None and spec_of(node) is not None else None
        while self.sections.count():
            old = self.sections.takeAt(0).widget()
            old.hide()
            old.deleteLater()
        self.edit.setEnabled(self.node is not None)
        if self.node is None:
            self.title.setText("Nothing selected")
            self.about.setText("Select a node to see its parameters; double-click it to edit them.")
            return
        spec = spec_of(self.node)
        name = self.node.name()
        self.title.setText(name if name == spec.title else f"{name} — {spec.title}")
        self.about.setText(spec.description)
        values = params_of(self.node)
        forms: dict[str, QtWidgets.QFormLayout] = {}
        for param in spec.params:
            section = param.group or (spec.sections[0] if spec.sections else "Parameters")
            if section not in forms:
                box = QtWidgets.QGroupBox(section)
                box.setObjectName(f"properties_{section}")
                forms[section] = QtWidgets.QFormLayout(box)
                forms[section].setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
                self.sections.addWidget(box)
            label = QtWidgets.QLabel(param.title)
            label.setToolTip(param.help)
            value = QtWidgets.QLabel(show_value(values[param.name]))
            value.setObjectName(f"value_{param.name}")
            value.setToolTip(param.help)
            value.setWordWrap(True)
            value.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            forms[section].addRow(label, value)
        if result:
            self._show_result(result)

    def _show_result(self, result: dict[str, Any]) -> None:
        """The last run's full metrics table, a classifier's confusion matrix, generated text, a picture."""
        box = QtWidgets.QGroupBox("Last run")
        box.setObjectName("properties_result")
        form = QtWidgets.QFormLayout(box)
        metrics = result.get("metrics", {})
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                form.addRow(key.replace("_", " "), wrapped(number(key, value)))
        for key, value in result.get("last", {}).items():
            form.addRow(f"last {key.replace('_', ' ')}", wrapped(number(key, value)))
        if result.get("folder"):
            form.addRow("checkpoints", wrapped(result["folder"]))
        matrix = metrics.get("confusion_matrix")
        if isinstance(matrix, list) and matrix:
            picture = QtWidgets.QLabel()
            picture.setObjectName("confusion_matrix")
            labels = list(metrics.get("per_class_accuracy") or {})
            picture.setPixmap(QtGui.QPixmap.fromImage(confusion_image(matrix, labels)))
            picture.setToolTip("Confusion matrix: rows are the true classes, columns the predicted ones")
            form.addRow(picture)
        if result.get("layers"):
            form.addRow(layer_table(result["layers"]))
        if result.get("text"):
            text = QtWidgets.QPlainTextEdit(result["text"])
            text.setReadOnly(True)
            text.setMinimumHeight(120)
            form.addRow(text)
        if result.get("image"):
            image = QtGui.QImage(result["image"])
            if not image.isNull():
                picture = QtWidgets.QLabel()
                picture.setPixmap(QtGui.QPixmap.fromImage(image.scaledToWidth(
                    min(260, image.width()), QtCore.Qt.TransformationMode.SmoothTransformation)))
                form.addRow(picture)
        self.sections.addWidget(box)


def wrapped(text: str) -> QtWidgets.QLabel:
    """A value that wraps (a long folder) instead of widening the panel past its dock."""
    label = QtWidgets.QLabel(text)
    label.setWordWrap(True)
    return label


def layer_table(rows: list[dict[str, Any]]) -> QtWidgets.QTableWidget:
    """A Check's per-layer table: layer, type, output shape, parameters."""
    table = QtWidgets.QTableWidget(len(rows), 4)
    table.setObjectName("layer_table")
    table.setHorizontalHeaderLabels(["layer", "type", "output", "parameters"])
    table.verticalHeader().hide()
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    for i, row in enumerate(rows):
        shape = "×".join(map(str, row["output"])) if row["output"] else ""
        for j, text in enumerate((row["layer"], row["type"], shape, f"{row['parameters']:,}")):
            table.setItem(i, j, QtWidgets.QTableWidgetItem(text))
    table.resizeColumnsToContents()
    table.setMinimumHeight(min(320, 30 + 22 * len(rows)))
    return table
