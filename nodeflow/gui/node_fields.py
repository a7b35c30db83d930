"""Params shown on a node's body (those declared `on_node=True`): edited in place, checked as
the parameter dialog checks them, applied as one undoable edit each.

Each field is a NodeGraphQt node widget bound to the param's hidden property, so undo, redo
and the dialog update it like any other property change. A value the dialog would refuse
is not applied: the field turns red, its tooltip and the status line say why, and Escape
(or leaving it) puts the current value back. A value too long for the field is painted cut in the
middle ("checkpoints/…/{run}"); the field's text stays whole, shown while it is edited and in the tooltip.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from NodeGraphQt import NodeBaseWidget
from PySide6 import QtCore, QtGui, QtWidgets

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


class ShortLine(QtWidgets.QLineEdit):
    """A line edit that, while not edited, paints a text too long for it cut in the middle
    ("checkpoints/…/{run}": a folder keeps its start and its last part); its text stays whole."""

    def displayed(self) -> str:
        """The text as the field shows it now."""
        if self.hasFocus():
            return self.text()
        room = self.contentsRect().width() - 8
        return self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideMiddle, room)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        short = self.displayed()
        if short == self.text():
            super().paintEvent(event)
            return
        painter = QtGui.QPainter(self)
        option = QtWidgets.QStyleOptionFrame()
        self.initStyleOption(option)
        self.style().drawPrimitive(QtWidgets.QStyle.PrimitiveElement.PE_PanelLineEdit, option, painter, self)
        painter.setPen(self.palette().color(QtGui.QPalette.ColorRole.Text))
        painter.drawText(self.contentsRect().adjusted(4, 0, -4, 0), int(QtCore.Qt.AlignmentFlag.AlignLeft
                         | QtCore.Qt.AlignmentFlag.AlignVCenter), short)
        painter.end()


class ParamField(NodeBaseWidget):
    """One param on the node's body; its property is the param's hidden property."""

    refused = QtCore.Signal(str)  # "Trainer.epochs: must be at least 1"

    def __init__(self, parent: Any, prop: str, param: ParamSpec, value: Any):
        super().__init__(parent, prop, param.title)
        self.param, self.value = param, value
        self.line = ShortLine(shown(value))
        self.line.setObjectName(f"node_field_{param.name}")
        self.line.setStyleSheet(NORMAL)
        self.line.setToolTip(param.help)
        self.line.setMinimumWidth(140)
        self.line.editingFinished.connect(self._typed)
        self.line.installEventFilter(self)
        self.set_custom_widget(self.line)

    def get_value(self) -> Any:
        return self.value

    def set_value(self, value: Any) -> None:
        """From the property (undo, redo, the dialog): show it, and forget a refused text."""
        self.value = value
        self.line.setText(shown(value))
        self._mark("")

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.KeyPress and event.key() == QtCore.Qt.Key.Key_Escape:
            self.set_value(self.value)
            return True
        return False

    def _mark(self, reason: str) -> None:
        self.line.setStyleSheet(REFUSED if reason else NORMAL)
        self.line.setToolTip(reason or f"{self.param.help}\n{shown(self.value)}")

    def _typed(self) -> None:
        node = self._node
        if node is None or self.line.text() == shown(self.value):
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
