"""Results on the canvas: what each node produced in the last run, from the run's events.

Evaluate shows its headline metrics, the Trainer its best and last values and checkpoint
folder, Generate the start of the text it wrote, SegmentationOverlay its first overlay picture
(scaled to fit). They are drawn under the node, or beside or above it where that covers another
node, badge, result or link chip (view-only, like the badges: never an edit), placed again after
every change on the undo stack (a dragged node takes its result along, and no result stays on a node
that moved next to it), and kept per node name, so the Properties panel can show the full table and
a classifier's confusion matrix.
"""
from __future__ import annotations

import textwrap
from typing import Any

from NodeGraphQt import BaseNode
from NodeGraphQt.qgraphics.node_base import NodeItem
from PySide6 import QtCore, QtGui, QtWidgets

HEADLINE = ("accuracy", "top5_accuracy", "loss", "rmse", "mae", "r2", "dice", "iou", "perplexity")
THUMB_WIDTH, THUMB_HEIGHT = 240, 120  # a picture on the canvas is scaled down to fit this box
PREVIEW_CHARS, PREVIEW_LINES = 44, 6  # a generated text's preview on the canvas
BADGE_BAND = 20.0  # the status badge above a node
PAD = 3.0
RESULT = "result"  # the data(1) of a result block, to tell it from a node's other children


RATES = ("accuracy", "dice", "iou", "f1", "precision", "recall")


def number(key: str, value: Any) -> str:
    """A metric as people read it: rates in percent, anything else with four significant digits."""
    if isinstance(value, float):
        return f"{value:.2%}" if any(r in key for r in RATES) else f"{value:.4g}"
    return str(value)


def metric_lines(metrics: dict[str, Any], limit: int = 3) -> list[str]:
    keys = [k for k in HEADLINE if isinstance(metrics.get(k), (int, float))]
    keys += [k for k, v in metrics.items() if k not in keys and isinstance(v, (int, float)) and k != "samples"]
    return [f"{k.replace('_', ' ')} {number(k, metrics[k])}" for k in keys[:limit]]


def footprints(view: QtWidgets.QGraphicsItem) -> list[QtCore.QRectF]:
    """What a node covers on the canvas: its body with the badge band above it, and its result block."""
    rects = [view.sceneBoundingRect().adjusted(0, -BADGE_BAND, 0, 0)]
    return rects + [child.sceneBoundingRect() for child in view.childItems() if child.data(1) == RESULT]


def footprint(view: QtWidgets.QGraphicsItem) -> QtCore.QRectF:
    """The box around everything a node covers (for placing nodes)."""
    rect = QtCore.QRectF()
    for part in footprints(view):
        rect = rect.united(part)
    return rect


def preview(text: str) -> list[str]:
    """The start of a generated text as a few short lines (the prompt and what followed it)."""
    lines: list[str] = []
    for line in text.strip().splitlines():
        if line.strip():
            lines += textwrap.wrap(line.strip(), PREVIEW_CHARS) or [""]
    if len(lines) > PREVIEW_LINES:
        lines = lines[:PREVIEW_LINES]
        lines[-1] = lines[-1][:PREVIEW_CHARS - 1] + "…"
    return lines or ["(empty)"]


class Results:
    """What the last run said about each node, and its drawing on the canvas."""

    def __init__(self) -> None:
        self.by_node: dict[str, dict[str, Any]] = {}
        self.items: dict[str, QtWidgets.QGraphicsRectItem] = {}
        self.stack: QtGui.QUndoStack | None = None  # the graph's undo stack, once a result is drawn

    def follow(self, node: BaseNode) -> None:
        """Place every result again after each change on the node's graph's undo stack (a move, too)."""
        stack = node.graph.undo_stack() if node.graph is not None else None
        if stack is not None and stack is not self.stack:
            self.stack = stack
            stack.indexChanged.connect(lambda *_: self.place_all())

    def place_all(self) -> None:
        """Each result where it covers nothing now, under its node where that is free."""
        for block in self.items.values():
            if block.scene() is not None and block.parentItem() is not None:
                self._place(block.parentItem(), block)

    def clear(self) -> None:
        for item in self.items.values():
            if item.scene() is not None:
                item.scene().removeItem(item)
        self.items, self.by_node = {}, {}

    def take(self, node: BaseNode, event: dict[str, Any]) -> None:
        """Keep what `event` says about `node` and redraw its result."""
        kind, entry = event["event"], self.by_node.setdefault(node.name(), {})
        if kind == "metrics":
            entry["metrics"] = event["metrics"]
            entry["lines"] = metric_lines(event["metrics"])
        elif kind == "fit_start" and event.get("checkpoint_dir"):
            entry["folder"] = event["checkpoint_dir"]
        elif kind == "epoch_end":
            entry["last"] = {k: v for k, v in event.get("metrics", {}).items() if isinstance(v, (int, float))}
        elif kind == "fit_end":
            entry["best"] = (event.get("monitor"), event.get("best"), event.get("best_epoch"))
        elif kind == "result":
            entry.update({k: event[k] for k in ("summary", "text", "image") if event.get(k)})
        elif kind == "reused":  # a Trainer not trained again: the result of the training it reuses
            entry.update({k: event[k] for k in ("folder", "last", "best") if k in event}, reused=True)
        elif kind == "layers":  # from a Check: the model's per-layer table and the built model's size
            entry["layers"] = event["layers"]
            total = event.get("parameters")  # the table lists two levels deep: its rows miss what sits above
            if not isinstance(total, int):
                total = sum(row["parameters"] for row in event["layers"] if "." not in row["layer"])
            entry["summary"] = f"{len(event['layers'])} layers, {total:,} parameters (select for the table)"
        else:
            return
        self._draw(node, entry)

    @staticmethod
    def lines_of(entry: dict[str, Any]) -> list[str]:
        lines = ["reused: the last run's result"] if entry.get("reused") else []
        lines += entry.get("lines", [])
        if "best" in entry and entry["best"][1] is not None:
            monitor, best, epoch = entry["best"]
            lines.append(f"best {monitor} {best:.4g} (epoch {epoch})")
        if "last" in entry:
            last = entry["last"]
            shown = [k for k in ("val_loss", "val_accuracy", "train_loss") if k in last][:2]
            lines.append("last " + ", ".join(f"{k} {last[k]:.4g}" for k in shown))
        if entry.get("folder"):
            lines.append(f"→ {entry['folder']}")
        if entry.get("text"):
            lines += preview(entry["text"])
        elif entry.get("summary"):
            lines.append(entry["summary"])
        return lines

    def _draw(self, node: BaseNode, entry: dict[str, Any]) -> None:
        lines = self.lines_of(entry)
        old = self.items.pop(node.name(), None)
        if old is not None and old.scene() is not None:
            old.scene().removeItem(old)
        block = QtWidgets.QGraphicsRectItem(node.view)
        block.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
        block.setBrush(QtGui.QBrush(QtGui.QColor(24, 24, 24, 210)))  # readable over the links it may cross
        text = QtWidgets.QGraphicsSimpleTextItem("\n".join(lines), block)
        text.setBrush(QtGui.QBrush(QtGui.QColor("#cfe8cf")))
        font = QtGui.QFont()
        font.setPointSize(8)
        text.setFont(font)
        text.setPos(PAD, PAD)
        image = QtGui.QImage(entry.get("image", "")) if entry.get("image") else QtGui.QImage()
        if not image.isNull():  # the whole picture, scaled down to fit its space
            fitted = image.scaled(THUMB_WIDTH, THUMB_HEIGHT, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                                  QtCore.Qt.TransformationMode.SmoothTransformation)
            picture = QtWidgets.QGraphicsPixmapItem(QtGui.QPixmap.fromImage(fitted), block)
            picture.setPos(PAD, PAD + text.boundingRect().height() + 2)
        block.setRect(block.childrenBoundingRect().adjusted(-PAD, -PAD, PAD, PAD))
        block.setToolTip(entry.get("text") or "\n".join(lines))
        block.setZValue(5)
        block.setData(1, RESULT)
        self._place(node.view, block)
        self.items[node.name()] = block
        self.follow(node)

    def _place(self, view: QtWidgets.QGraphicsItem, block: QtWidgets.QGraphicsRectItem) -> None:
        """Under the node where that covers nothing else, else beside it, above its badge, or further down;
        a spot on screen before one off it."""
        size = block.rect().size()
        body = view.boundingRect()
        spots = [QtCore.QPointF(0, body.height() + 4), QtCore.QPointF(body.width() + 8, 0),
                 QtCore.QPointF(-size.width() - 8, 0),
                 QtCore.QPointF(0, -BADGE_BAND - size.height() - 2)]
        spots += [QtCore.QPointF(0, body.height() + 4 + step * 14) for step in range(1, 30)]
        taken, views = self._taken(view), view.scene().views() if view.scene() is not None else []
        shown = views[0].mapToScene(views[0].viewport().rect()).boundingRect() if views else None
        for in_view in (True, False):  # a spot in the part of the canvas on screen first
            for spot in spots:
                rect = view.mapRectToScene(QtCore.QRectF(spot, size))
                if (not in_view or shown is None or shown.contains(rect)) and \
                        not any(rect.intersects(other) for other in taken):
                    block.setPos(spot)
                    return
        block.setPos(spots[0])

    @staticmethod
    def _taken(view: QtWidgets.QGraphicsItem) -> list[QtCore.QRectF]:
        """Other nodes with their badges and results, the node's own body and badge, the links' chips."""
        scene = view.scene()
        if scene is None:
            return []
        taken = [view.sceneBoundingRect().adjusted(0, -BADGE_BAND, 0, 0)]
        for item in scene.items():
            if isinstance(item, NodeItem) and item is not view:
                taken += footprints(item)
            elif item.parentItem() is None and isinstance(item, QtWidgets.QGraphicsRectItem) and item.data(0):
                taken.append(item.sceneBoundingRect())  # a chip on a link (link_labels)
        return taken

    def text_of(self, name: str) -> str:
        item = self.items.get(name)
        texts = [c.text() for c in item.childItems()
                 if isinstance(c, QtWidgets.QGraphicsSimpleTextItem)] if item else []
        return "\n".join(texts)


def confusion_image(matrix: list[list[int]], labels: list[str], cell: int = 22) -> QtGui.QImage:
    """A classifier's confusion matrix as a picture: rows true class, columns predicted, darker = more."""
    n = len(matrix)
    margin = 28
    image = QtGui.QImage(margin + n * cell + 2, margin + n * cell + 2, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("white"))
    painter = QtGui.QPainter(image)
    font = QtGui.QFont()
    font.setPointSize(7)
    painter.setFont(font)
    top = max((max(row) for row in matrix if row), default=1) or 1
    for i, row in enumerate(matrix):
        painter.drawText(QtCore.QRectF(0, margin + i * cell, margin - 2, cell), QtCore.Qt.AlignmentFlag.AlignRight
                         | QtCore.Qt.AlignmentFlag.AlignVCenter, str(labels[i]) if i < len(labels) else str(i))
        for j, count in enumerate(row):
            shade = int(255 - 200 * count / top)
            painter.fillRect(QtCore.QRectF(margin + j * cell, margin + i * cell, cell, cell),
                             QtGui.QColor(shade, shade, 255))
            painter.setPen(QtGui.QColor("black" if shade > 120 else "white"))
            painter.drawText(QtCore.QRectF(margin + j * cell, margin + i * cell, cell, cell),
                             QtCore.Qt.AlignmentFlag.AlignCenter, str(count))
            painter.setPen(QtGui.QColor("black"))
    for j in range(n):
        painter.drawText(QtCore.QRectF(margin + j * cell, 0, cell, margin - 2), QtCore.Qt.AlignmentFlag.AlignCenter
                         | QtCore.Qt.AlignmentFlag.AlignBottom, str(labels[j]) if j < len(labels) else str(j))
    painter.end()
    return image
