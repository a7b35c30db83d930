"""Labels on the canvas's links: what a Check (dry run) saw flowing on each one.

View-only decoration, like the badges: never an edit. The labels are the editor's own scene
items (not children of NodeGraphQt's pipes, which it deletes with their links), placed at
their link's midpoint; the run controls remove them whenever the graph changes.
"""
from __future__ import annotations

from typing import Any

from NodeGraphQt import BaseNode
from PySide6 import QtGui, QtWidgets


class LinkLabels:
    def __init__(self, scene: QtWidgets.QGraphicsScene) -> None:
        self.scene = scene
        self.items: list[QtWidgets.QGraphicsSimpleTextItem] = []

    def show(self, node: BaseNode, outputs: dict[str, Any]) -> None:
        """Label every link leaving `node` with the text of its output port."""
        for port_name, text in outputs.items():
            port = node.get_output(port_name)
            for pipe in port.view.connected_pipes if port is not None else []:
                label = QtWidgets.QGraphicsSimpleTextItem(str(text))
                label.setBrush(QtGui.QBrush(QtGui.QColor("#e8e8a0")))
                font = QtGui.QFont()
                font.setPointSize(8)
                label.setFont(font)
                label.setToolTip(f"{node.name()}.{port_name}: {text}")
                middle = pipe.path().pointAtPercent(0.5)
                label.setPos(middle.x() - label.boundingRect().width() / 2, middle.y() - 14)
                label.setZValue(10)
                self.scene.addItem(label)
                self.items.append(label)

    def texts(self) -> list[str]:
        return [item.text() for item in self.items]

    def clear(self) -> None:
        for item in self.items:
            self.scene.removeItem(item)
        self.items = []
