"""The properties panel: the selected node's name, type, help and current params, in the
sections of its parameter dialog, scrolling inside its dock (it never grows the window)."""
from __future__ import annotations

from NodeGraphQt import BaseNode
from PySide6 import QtCore, QtWidgets

from nodeflow.gui.graph import params_of, spec_of


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

    def show_node(self, node: BaseNode | None) -> None:
        self.node = node if node is not None and spec_of(node) is not None else None
        while self.sections.count():
            self.sections.takeAt(0).widget().deleteLater()
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
