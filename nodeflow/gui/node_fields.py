"""Params shown on a node's body (those declared `on_node=True`): edited in place, checked as
the parameter dialog checks them, applied as one undoable edit each.

Each field is a NodeGraphQt node widget bound to the param's hidden property, so undo, redo
and the dialog update it like any other property change. A value the dialog would refuse
is not applied: the field turns red, its tooltip and the status line say why, and Escape
(or leaving it) puts the current value back. A value too long for the field is shown cut in the
middle ("checkpoints/…/{run}"), whole while it is edited and in the tooltip.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from NodeGraphQt import NodeBaseWidget
from PySide6 import QtCore, QtWidgets

from nodeflow.core.params import ParamError, check_path, coerce
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec
from nodeflow.core.validate import PATH_TYPES

PARAM_PREFIX = "nf_param_"  # a canvas node's property holding one param's value
NORMAL = "QLineEdit { background: rgba(255,255,255,20); color: #ddd; border: 1px solid #555; border-radius: 3px; }"
REFUSED = "QLineEdit { background: rgba(217,83,79,60); color: #fff; border: 1px solid #d9534f; border-radius: 3px; }"


def spec_of(node: Any) -> NodeSpec | None:
    """The declaration behind a canvas node (None for NodeGraphQt's own nodes, e.g. backdrops)."""
    return getattr(node, "spec", None)


def params_of(node: Any) -> dict[str, Any]:
    """A canvas node's param values, copied."""
    spec = spec_of(node)
    return {p.name: copy.deepcopy(node.get_property(PARAM_PREFIX + p.name)) for p in spec.params} if spec else {}


def shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def problem(spec: NodeSpec, param: ParamSpec, text: str, params: dict[str, Any], linked: frozenset[str],
            base_dir: Path) -> tuple[Any, str]:
    """(the clean value, "") or (None, the reason the dialog would give)."""
    try:
        value = coerce(param, text, from_text=True)
        if param.type in PATH_TYPES:
            reason = check_path(param, value, base_dir)
            if reason:
                raise ParamError(reason)
    except ParamError as exc:
        return None, str(exc)
    if spec.check:
        for name, message in spec.check(CheckInput({**params, param.name: value}, linked, base_dir)):
            if name == param.name:
                return None, message
    return value, ""


class ParamField(NodeBaseWidget):
    """One param on the node's body; its property is the param's hidden property."""

    refused = QtCore.Signal(str)  # "Trainer.epochs: must be at least 1"

    def __init__(self, parent: Any, prop: str, param: ParamSpec, value: Any):
        super().__init__(parent, prop, param.title)
        self.param, self.value = param, value
        self.line = QtWidgets.QLineEdit(shown(value))
        self.line.setObjectName(f"node_field_{param.name}")
        self.line.setStyleSheet(NORMAL)
        self.line.setToolTip(param.help)
        self.line.setMinimumWidth(140)
        self.line.editingFinished.connect(self._typed)
        self.line.installEventFilter(self)
        self.set_custom_widget(self.line)
        self._fit()

    def get_value(self) -> Any:
        return self.value

    def set_value(self, value: Any) -> None:
        """From the property (undo, redo, the dialog): show it, and forget a refused text."""
        self.value = value
        self._mark("")
        self._fit()

    def short_text(self) -> str:
        """The value as the field shows it while not edited: cut in the middle to fit (a folder keeps
        its start and its last part), the whole of it in the tooltip and while editing."""
        room = self.line.contentsRect().width() - 8
        return self.line.fontMetrics().elidedText(shown(self.value), QtCore.Qt.TextElideMode.ElideMiddle, room)

    def _fit(self) -> None:
        """Show the whole value while the field is edited, else the short text."""
        editing = self.line.hasFocus()
        self.line.setText(shown(self.value) if editing else self.short_text())
        self.line.setCursorPosition(len(self.line.text()) if editing else 0)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        if kind == QtCore.QEvent.Type.KeyPress and event.key() == QtCore.Qt.Key.Key_Escape:
            self.set_value(self.value)
            return True
        if kind == QtCore.QEvent.Type.FocusIn and self.line.text() == self.short_text():
            self.line.setText(shown(self.value))  # edit the whole value, never the shortened one
        elif kind == QtCore.QEvent.Type.FocusOut:
            QtCore.QTimer.singleShot(0, self, self._after_edit)  # after editingFinished has applied it
        elif kind == QtCore.QEvent.Type.Resize:
            QtCore.QTimer.singleShot(0, self, self._after_edit)
        return False

    def _after_edit(self) -> None:
        if not self.line.hasFocus() and self.line.styleSheet() != REFUSED:
            self._fit()

    def _mark(self, reason: str) -> None:
        self.line.setStyleSheet(REFUSED if reason else NORMAL)
        full = shown(self.value)
        self.line.setToolTip(reason or (self.param.help + (f"\n{full}" if self.short_text() != full else "")))

    def _typed(self) -> None:
        node = self._node
        if node is None or self.line.text() in (shown(self.value), self.short_text()):
            self._mark("")
            return
        linked = frozenset(p.name() for p in node.input_ports() if p.connected_ports())
        value, reason = problem(spec_of(node), self.param, self.line.text(), params_of(node), linked,
                                node.graph.base_dir)
        self._mark(reason)
        if reason:
            self.refused.emit(f"{node.name()}.{self.param.name}: {reason}")
        elif value != self.value:
            self.value = value
            self.value_changed.emit(self.get_name(), value)  # NodeGraphQt sets the property: one undo step
