"""One param edited in the Properties panel: the parameter dialog's field (nodeflow.gui.param_dialog.Field)
and its checks, applied when the user commits the value (Enter, leaving the field, a tick, a choice,
Browse…). A value the dialog would refuse is not applied: the reason shows under the field in red.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from NodeGraphQt import BaseNode
from PySide6 import QtCore, QtWidgets

from nodeflow.core import CheckInput, ParamSpec
from nodeflow.core.params import ParamError
from nodeflow.gui.graph import params_of, spec_of
from nodeflow.gui.param_dialog import Field, IntBox, _text


class PropertyField(QtCore.QObject):
    committed = QtCore.Signal(str, object)  # param name, its checked value

    def __init__(self, node: BaseNode, param: ParamSpec, value: Any, dirs: tuple[Path, Path],
                 parent: QtWidgets.QWidget):
        super().__init__(parent)
        self.node, self.param, self.value, self.workflow_dir = node, param, value, dirs[0]
        base = dirs[1] if param.type in ("outdir", "outfile") else dirs[0]
        self.field = Field(param, value, base, parent)
        self.editor, self.widget, self.error = self.field.editor, self.field.widget, self.field.error
        self.editor.setObjectName(f"value_{param.name}")
        for widget in {self.editor, self.widget}:  # the dock's width decides, not a spin box's ±2³¹ range
            widget.setMinimumWidth(60)
        self.error.setObjectName(f"value_{param.name}_error")
        editor = self.editor
        if isinstance(editor, QtWidgets.QCheckBox):
            editor.toggled.connect(lambda *_: self.commit())
        elif isinstance(editor, QtWidgets.QComboBox):
            editor.activated.connect(lambda *_: self.commit())
            if editor.isEditable():
                editor.lineEdit().editingFinished.connect(self.commit)
        else:
            editor.editingFinished.connect(self.commit)
        browse = self.widget.findChild(QtWidgets.QPushButton) if self.widget is not editor else None
        if browse is not None:
            browse.clicked.connect(lambda *_: self.commit())  # after Field.browse has set the text

    def show(self, value: Any) -> None:
        """The node's value now (after an undo, the dialog, a field on the node): shown, any refusal gone."""
        self.value = value
        editor = self.editor
        editor.blockSignals(True)
        if isinstance(editor, IntBox):
            editor.setValue(int(value))
        elif isinstance(editor, QtWidgets.QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QtWidgets.QComboBox):
            editor.setCurrentText(str(value))
        else:
            editor.setText(_text(value))
        editor.blockSignals(False)
        self.field.show_error("")

    def commit(self) -> None:
        """Check the value as the dialog does; apply it when it passes, otherwise say why under the field."""
        try:
            value = self.field.value()
        except ParamError as exc:
            self.field.show_error(str(exc))
            return
        spec = spec_of(self.node)
        if spec is not None and spec.check:
            params = {**params_of(self.node), self.param.name: value}
            linked = frozenset(p.name() for p in self.node.input_ports() if p.connected_ports())
            for name, message in spec.check(CheckInput(params, linked, self.workflow_dir)):
                if name == self.param.name:
                    self.field.show_error(message)
                    return
        self.field.show_error("")
        if value != self.value:
            self.committed.emit(self.param.name, value)
