"""The parameter dialog, generated from a node's declaration.

One field per param, the right widget for its type, help as tooltips, the reason a value
is wrong shown under its field across the dialog's width, and OK disabled while any value
is wrong (a typed number outside the bounds too: it is shown, never silently clamped).
Every field's objectName is the param's name (the node name field is "name").
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from nodeflow.core import CheckInput, NodeSpec, ParamSpec
from nodeflow.core.params import ParamError, check_path, coerce
from nodeflow.core.validate import PATH_TYPES

INT_LIMIT = 2**31 - 1


class Field:
    """One param's editor widget: raw value in and out, independent of the widget type."""

    def __init__(self, spec: ParamSpec, value: Any, base_dir: Path, parent: QtWidgets.QWidget):
        self.spec, self.base_dir = spec, base_dir
        self.editor = self._make_editor(value, parent)
        self.editor.setObjectName(spec.name)
        self.editor.setToolTip(spec.help)
        self.widget: QtWidgets.QWidget = self.editor
        if spec.type in PATH_TYPES:
            self.widget = QtWidgets.QWidget(parent)
            row = QtWidgets.QHBoxLayout(self.widget)
            row.setContentsMargins(0, 0, 0, 0)
            browse = QtWidgets.QPushButton("Browse…", self.widget)
            browse.setObjectName(f"{spec.name}_browse")
            browse.clicked.connect(self.browse)
            row.addWidget(self.editor, 1)
            row.addWidget(browse)
        self.error = QtWidgets.QLabel(parent)
        self.error.setObjectName(f"{spec.name}_error")
        self.error.setStyleSheet("color: #d9534f;")
        self.error.setWordWrap(True)
        self.error.hide()

    def _make_editor(self, value: Any, parent: QtWidgets.QWidget) -> QtWidgets.QWidget:
        spec = self.spec
        if spec.type == "int":
            box = IntBox(spec, parent)
            box.setValue(int(value))
            return box
        if spec.type == "bool":
            check = QtWidgets.QCheckBox(parent)
            check.setChecked(bool(value))
            return check
        if spec.type == "choice" or (spec.type == "str" and spec.choices):
            combo = QtWidgets.QComboBox(parent)
            combo.addItems(list(spec.choices))
            combo.setEditable(spec.type == "str")
            combo.setCurrentText(str(value))
            return combo
        line = QtWidgets.QLineEdit(parent)
        line.setText(_text(value))
        if spec.type == "float" and (spec.min is not None or spec.max is not None):
            line.setPlaceholderText(f"{spec.min if spec.min is not None else '-∞'} … "
                                    f"{spec.max if spec.max is not None else '∞'}")
        return line

    def raw(self) -> Any:
        editor = self.editor
        if isinstance(editor, QtWidgets.QSpinBox):
            return editor.cleanText()  # what is typed, checked against the bounds like any text
        if isinstance(editor, QtWidgets.QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QtWidgets.QComboBox):
            return editor.currentText()
        return editor.text()

    def value(self) -> Any:
        """The clean value; raises ParamError with the reason when it is not acceptable."""
        raw = self.raw()
        value = coerce(self.spec, raw, from_text=isinstance(raw, str))
        if self.spec.type in PATH_TYPES:
            reason = check_path(self.spec, value, self.base_dir)
            if reason:
                raise ParamError(reason)
        return value

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def changed_signal(self) -> Any:
        editor = self.editor
        if isinstance(editor, QtWidgets.QSpinBox):
            return editor.textChanged
        if isinstance(editor, QtWidgets.QCheckBox):
            return editor.toggled
        if isinstance(editor, QtWidgets.QComboBox):
            return editor.currentTextChanged
        return editor.textChanged

    def browse(self) -> None:
        start = str(self.base_dir)
        parent = self.editor.window()
        if self.spec.type in ("dir", "outdir"):
            chosen = QtWidgets.QFileDialog.getExistingDirectory(parent, self.spec.title, start)
        elif self.spec.type == "file":
            chosen, _ = QtWidgets.QFileDialog.getOpenFileName(parent, self.spec.title, start)
        else:
            chosen, _ = QtWidgets.QFileDialog.getSaveFileName(parent, self.spec.title, start)
        if chosen:
            self.editor.setText(relative_if_inside(Path(chosen), self.base_dir))


class IntBox(QtWidgets.QSpinBox):
    """An int field whose arrows stay within the param's bounds while any typed integer is kept
    as typed, so a value out of range (-5 for epochs) is shown with its reason instead of clamped."""

    def __init__(self, spec: ParamSpec, parent: QtWidgets.QWidget):
        super().__init__(parent)
        self.low = int(spec.min) if spec.min is not None else -INT_LIMIT
        self.high = int(spec.max) if spec.max is not None else INT_LIMIT
        self.setRange(-INT_LIMIT, INT_LIMIT)

    def stepBy(self, steps: int) -> None:
        self.setValue(min(max(self.value() + steps, self.low), self.high))

    def stepEnabled(self) -> QtWidgets.QAbstractSpinBox.StepEnabledFlag:
        flags = QtWidgets.QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.value() < self.high:
            flags |= QtWidgets.QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if self.value() > self.low:
            flags |= QtWidgets.QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def relative_if_inside(path: Path, base: Path) -> str:
    """A path relative to `base` when it lies inside it (so workflow files stay portable)."""
    try:
        return os.path.relpath(path, base) if path.resolve().is_relative_to(base.resolve()) else str(path)
    except ValueError:
        return str(path)


class ParamDialog(QtWidgets.QDialog):
    """Edit one node's name and params. `values()` and `name()` hold the result after OK."""

    def __init__(self, spec: NodeSpec, name: str, params: dict[str, Any], taken_names: set[str],
                 dirs: tuple[Path, Path], linked_inputs: frozenset[str], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.spec, self.taken, self.linked = spec, taken_names, linked_inputs
        self.workflow_dir, run_dir = dirs
        self.setWindowTitle(f"{name} — {spec.title} parameters")
        self.setObjectName("param_dialog")
        form = QtWidgets.QFormLayout()
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.name_edit = QtWidgets.QLineEdit(name, self)
        self.name_edit.setObjectName("name")
        self.name_edit.setToolTip("Unique node name, used by `--set NAME.PARAM=VALUE`")
        self.name_error = QtWidgets.QLabel(self)
        self.name_error.setStyleSheet("color: #d9534f;")
        self.name_error.hide()
        form.addRow("Name", self.name_edit)
        form.addRow(self.name_error)
        inner = QtWidgets.QWidget(self)
        column = QtWidgets.QVBoxLayout(inner)
        column.addLayout(form)
        forms = {title: self._section(title, title not in spec.collapsed, column) for title in spec.sections}
        self.fields: dict[str, Field] = {}
        for param in spec.params:
            base = run_dir if param.type in ("outdir", "outfile") else self.workflow_dir
            field = Field(param, params.get(param.name, param.default), base, self)
            label = QtWidgets.QLabel(param.title, self)
            label.setToolTip(param.help)
            target = forms.get(param.group) or next(iter(forms.values()), form)
            target.addRow(label, field.widget)
            target.addRow(field.error)  # the whole row's width: a long reason wraps across the dialog
            field.changed_signal().connect(self.revalidate)
            self.fields[param.name] = field
        column.addStretch(1)
        self.name_edit.textChanged.connect(self.revalidate)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("ok")
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Cancel).setObjectName("cancel")
        scroll = QtWidgets.QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        layout = QtWidgets.QVBoxLayout(self)
        if spec.description:
            about = QtWidgets.QLabel(spec.description, self)
            about.setWordWrap(True)
            layout.addWidget(about)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        screen = (parent.screen() if parent is not None else None) or QtWidgets.QApplication.primaryScreen()
        room = screen.availableGeometry().height() - 80 if screen is not None else 760  # title bar and margins
        self.resize(520, min(760, room, 140 + 44 * len(spec.params)))  # the fields scroll; OK stays on screen
        self._values: dict[str, Any] = {}
        self.revalidate()

    def _section(self, title: str, open_: bool, column: QtWidgets.QVBoxLayout) -> QtWidgets.QFormLayout:
        """A titled, collapsible group of fields; its header is `section_<title>`."""
        header = QtWidgets.QToolButton(self)
        header.setObjectName(f"section_{title}")
        header.setText(title)
        header.setCheckable(True)
        header.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        header.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        body = QtWidgets.QWidget(self)
        header.toggled.connect(lambda on: (body.setVisible(on), header.setArrowType(
            QtCore.Qt.ArrowType.DownArrow if on else QtCore.Qt.ArrowType.RightArrow)))
        header.setChecked(open_)
        header.toggled.emit(open_)
        column.addWidget(header)
        column.addWidget(body)
        form = QtWidgets.QFormLayout(body)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        return form

    def section(self, title: str) -> QtWidgets.QToolButton:
        return self.findChild(QtWidgets.QToolButton, f"section_{title}")

    def revalidate(self) -> None:
        """Check every field; show each reason inline; OK only when all are acceptable."""
        values, ok = {}, True
        for name, field in self.fields.items():
            try:
                values[name] = field.value()
                field.show_error("")
            except ParamError as exc:
                self._reveal(field.spec)
                field.show_error(str(exc))
                ok = False
        if ok and self.spec.check:
            for name, message in self.spec.check(CheckInput(values, self.linked, self.workflow_dir)):
                if name in self.fields:
                    self._reveal(self.fields[name].spec)
                    self.fields[name].show_error(message)
                    ok = False
        name = self.name_edit.text().strip()
        problem = "a name is required" if not name else "another node has this name" if name in self.taken else ""
        self.name_error.setText(problem)
        self.name_error.setVisible(bool(problem))
        self._values = values
        self.ok_button.setEnabled(ok and not problem)

    def _reveal(self, param: ParamSpec) -> None:
        """Open the section of a field that shows a problem, so the reason is never hidden."""
        header = self.section(param.group) if param.group else None
        if header is not None and not header.isChecked():
            header.setChecked(True)

    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def name(self) -> str:
        return self.name_edit.text().strip()

    def field(self, name: str) -> QtWidgets.QWidget:
        return self.fields[name].editor

