"""Status badges drawn above canvas nodes: idle, issue, running, done, checked (by a Check),
reused (unchanged since the last run), failed.

View-only decoration: badges never touch node properties, so they are not edits and
never mark the workflow modified.
"""
from __future__ import annotations

from NodeGraphQt import BaseNode
from PySide6 import QtGui, QtWidgets

COLOURS = {"issue": "#e0a030", "warning": "#c08020", "running": "#3d8fd6", "done": "#4caf50", "checked": "#5fa8a0",
           "reused": "#7aa36f", "failed": "#d9534f", "stopped": "#9e9e9e"}
LABELS = {"issue": "! issue", "warning": "⚠ note", "running": "● running", "done": "✓ done", "checked": "✓ checked",
          "reused": "↺ reused", "failed": "✗ failed", "stopped": "■ stopped"}


def set_badge(node: BaseNode, status: str, detail: str = "") -> None:
    """Show `status` above the node ("idle" removes the badge); `detail` becomes its tooltip."""
    badge = getattr(node.view, "_nf_badge", None)
    if status == "idle" or status not in LABELS:
        if badge is not None:
            badge.hide()
        node.view._nf_status = "idle"
        return
    if badge is None:
        badge = QtWidgets.QGraphicsSimpleTextItem(node.view)
        font = QtGui.QFont()
        font.setBold(True)
        font.setPointSize(9)
        badge.setFont(font)
        node.view._nf_badge = badge
    badge.setText(LABELS[status] + (f": {detail[:60]}" if detail and status in ("failed", "issue", "warning") else ""))
    badge.setBrush(QtGui.QBrush(QtGui.QColor(COLOURS[status])))
    badge.setToolTip(detail)
    badge.setPos(2, -badge.boundingRect().height() - 2)
    badge.show()
    node.view._nf_status = status


def badge_of(node: BaseNode) -> str:
    return getattr(node.view, "_nf_status", "idle")


def badge_text(node: BaseNode) -> str:
    badge = getattr(node.view, "_nf_badge", None)
    return badge.text() if badge is not None and badge.isVisible() else ""
