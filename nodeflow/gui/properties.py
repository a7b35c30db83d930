"""The properties panel: the selected node's name, type, help and params, in the sections of its
parameter dialog, scrolling inside its dock (it never grows the window). Each param is edited in
place (nodeflow.gui.property_fields): checked as the dialog checks it, applied as one undo step."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from NodeGraphQt import BaseNode
from PySide6 import QtCore, QtGui, QtWidgets

from nodeflow.gui.graph import params_of, spec_of
from nodeflow.gui.property_fields import PropertyField
from nodeflow.gui.results import confusion_image, number


class PropertiesPanel(QtWidgets.QScrollArea):
    edit_requested = QtCore.Signal(object)  # the node
    param_edited = QtCore.Signal(object, str, object)  # the node, the param, its checked new value

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("properties")
        self.setWidgetResizable(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.node: BaseNode | None = None
        self.fields: dict[str, PropertyField] = {}
        self.result_box: QtWidgets.QGroupBox | None = None
        self.dirs: Callable[[], tuple[Path, Path]] = lambda: (Path.cwd(), Path.cwd())  # the window's
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
        """The node's params by section; `result`: what the last run said about it (Results.by_node).
        The node already shown keeps its fields (and the focus): they take the values it has now."""
        node = node if node is not None and spec_of(node) is not None else None
        if node is not None and node is self.node and self.fields:
            self._title(node)
            values = params_of(node)
            for name, field in self.fields.items():
                field.show(values[name])
            self._set_result(result)
            return
        self.node = node
        self.fields = {}
        self.result_box = None
        while self.sections.count():
            old = self.sections.takeAt(0).widget()
            old.hide()
            old.setParent(None)  # gone at once, not at the next event loop turn
            old.deleteLater()
        self.edit.setEnabled(self.node is not None)
        if self.node is None:
            self.title.setText("Nothing selected")
            self.about.setText("Select a node to see and edit its parameters; double-click it for the full form.")
            return
        spec = spec_of(self.node)
        self._title(self.node)
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
            field = PropertyField(self.node, param, values[param.name], self.dirs(), self)
            field.committed.connect(self._commit)
            forms[section].addRow(label, field.widget)
            forms[section].addRow(field.error)  # the reason across the panel's width
            self.fields[param.name] = field
        self._set_result(result)

    def show_many(self, nodes: list[BaseNode]) -> None:
        """Several nodes selected: say so and name them (their params are edited one node at a time)."""
        self.show_node(None)
        self.title.setText(f"{len(nodes)} nodes selected")
        names = ", ".join(n.name() for n in nodes[:12]) + (" …" if len(nodes) > 12 else "")
        self.about.setText(f"{names}.\nSelect one node to see and edit its parameters.")

    def _title(self, node: BaseNode) -> None:
        name, title = node.name(), spec_of(node).title
        self.title.setText(name if name == title else f"{name} — {title}")

    def _commit(self, name: str, value: Any) -> None:
        if self.node is not None:
            self.param_edited.emit(self.node, name, value)

    def _set_result(self, result: dict[str, Any] | None) -> None:
        if self.result_box is not None:
            self.result_box.hide()
            self.result_box.deleteLater()
            self.result_box = None
        if result:
            self._show_result(result)

    def _show_result(self, result: dict[str, Any]) -> None:
        """The last run's full metrics table, a classifier's confusion matrix, generated text, a picture."""
        box = self.result_box = QtWidgets.QGroupBox("Last run")
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
    """A Check's per-layer table: layer, type, output shape, parameters, what trains (frozen, trainable, partly)."""
    table = QtWidgets.QTableWidget(len(rows), 5)
    table.setObjectName("layer_table")
    table.setHorizontalHeaderLabels(["layer", "type", "output", "parameters", "training"])
    table.verticalHeader().hide()
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    for i, row in enumerate(rows):
        shape = "×".join(map(str, row["output"])) if row["output"] else ""
        cells = (row["layer"], row["type"], shape, f"{row['parameters']:,}", row.get("training", ""))
        for j, text in enumerate(cells):
            table.setItem(i, j, QtWidgets.QTableWidgetItem(text))
    table.resizeColumnsToContents()
    table.setMinimumHeight(min(320, 30 + 22 * len(rows)))
    return table
