"""Labels on the canvas's links: what a Check (dry run) saw flowing on each one.

View-only decoration, like the badges: never an edit. Each label is a compact chip on its
link (the full text on hover), placed along the link where it overlaps no other chip, node,
badge or result. The chips are the editor's own scene items (not children of NodeGraphQt's pipes,
which it deletes with their links); the run controls remove them whenever the graph changes.
"""
from __future__ import annotations

from typing import Any

from NodeGraphQt import BaseNode
from NodeGraphQt.qgraphics.node_base import NodeItem
from PySide6 import QtCore, QtGui, QtWidgets

from nodeflow.gui.results import footprints

CHIP_CHARS = 20  # longer texts are cut on the chip; the tooltip has them whole
ALONG = (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.15, 0.85)  # where on the link a chip may sit, in order


def chip_text(text: str) -> str:
    return text if len(text) <= CHIP_CHARS else text[:CHIP_CHARS - 1].rstrip() + "…"


class LinkLabels:
    def __init__(self, scene: QtWidgets.QGraphicsScene) -> None:
        self.scene = scene
        self.items: list[QtWidgets.QGraphicsRectItem] = []

    def show(self, node: BaseNode, outputs: dict[str, Any]) -> None:
        """Label every link leaving `node` with the text of its output port."""
        for port_name, text in outputs.items():
            port = node.get_output(port_name)
            for pipe in port.view.connected_pipes if port is not None else []:
                self._add(pipe, str(text), f"{node.name()}.{port_name}: {text}")

    def _add(self, pipe: Any, text: str, tooltip: str) -> None:
        chip = QtWidgets.QGraphicsRectItem()
        label = QtWidgets.QGraphicsSimpleTextItem(chip_text(text), chip)
        font = QtGui.QFont()
        font.setPointSize(8)
        label.setFont(font)
        label.setBrush(QtGui.QBrush(QtGui.QColor("#f0f0c0")))
        label.setPos(4, 1)
        box = label.boundingRect().adjusted(0, 0, 8, 2)
        chip.setRect(box)
        chip.setBrush(QtGui.QBrush(QtGui.QColor(40, 40, 40, 230)))
        chip.setPen(QtGui.QPen(QtGui.QColor("#8a8a50")))
        chip.setToolTip(tooltip)
        chip.setData(0, text)
        chip.setZValue(10)
        path = pipe.mapToScene(pipe.path())
        taken = [i.sceneBoundingRect() for i in self.items] + self._node_rects()
        step = box.height() + 3
        spots = [QtCore.QRectF(path.pointAtPercent(along).x() - box.width() / 2,
                               path.pointAtPercent(along).y() - box.height() / 2 + shift * step, box.width(),
                               box.height())
                 for shift in (0, -1, 1, -2, 2, -3, 3, -4, 4) for along in ALONG]  # on the link, else beside it
        spot = next((r for r in spots if not any(r.intersects(t) for t in taken)), spots[0])
        chip.setPos(spot.topLeft())
        self.scene.addItem(chip)
        self.items.append(chip)

    def _node_rects(self) -> list[QtCore.QRectF]:
        """Each node with its badge and what is drawn under or beside it (results, a Check's layer line)."""
        return [rect for item in self.scene.items() if isinstance(item, NodeItem) for rect in footprints(item)]

    def texts(self) -> list[str]:
        """The full text of every label."""
        return [item.data(0) for item in self.items]

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs of labels, or a label and a node, that cover each other (none, when placement worked)."""
        rects = [(item.data(0), item.sceneBoundingRect()) for item in self.items]
        nodes = [("node", r) for r in self._node_rects()]
        return [(a, b) for i, (a, ra) in enumerate(rects) for b, rb in rects[i + 1:] + nodes if ra.intersects(rb)]

    def clear(self) -> None:
        for item in self.items:
            self.scene.removeItem(item)
        self.items = []
