"""Results on the canvas: what each node produced in the last run, from the run's events.

Evaluate shows its headline metrics, the Trainer its best and last values and checkpoint
folder, Generate the start of its text, SegmentationOverlay its first overlay picture. They
are drawn under the node (view-only, like the badges: never an edit) and kept per node name,
so the Properties panel can show the full table and a classifier's confusion matrix.
"""
from __future__ import annotations

from typing import Any

from NodeGraphQt import BaseNode
from PySide6 import QtCore, QtGui, QtWidgets

HEADLINE = ("accuracy", "top5_accuracy", "loss", "rmse", "mae", "r2", "dice", "iou", "perplexity")
THUMB = 120


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


class Results:
    """What the last run said about each node, and its drawing on the canvas."""

    def __init__(self) -> None:
        self.by_node: dict[str, dict[str, Any]] = {}
        self.items: dict[str, QtWidgets.QGraphicsItem] = {}

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
        elif kind == "layers":  # from a Check: the model's per-layer table
            entry["layers"] = event["layers"]
            total = sum(row["parameters"] for row in event["layers"] if "." not in row["layer"])
            entry["summary"] = f"{len(event['layers'])} layers, {total:,} parameters (select for the table)"
        else:
            return
        self._draw(node, entry)

    def _draw(self, node: BaseNode, entry: dict[str, Any]) -> None:
        lines = list(entry.get("lines", []))
        if "best" in entry and entry["best"][1] is not None:
            monitor, best, epoch = entry["best"]
            lines.append(f"best {monitor} {best:.4g} (epoch {epoch})")
        if "last" in entry:
            last = entry["last"]
            shown = [k for k in ("val_loss", "val_accuracy", "train_loss") if k in last][:2]
            lines.append("last " + ", ".join(f"{k} {last[k]:.4g}" for k in shown))
        if entry.get("folder"):
            lines.append(f"→ {entry['folder']}")
        if entry.get("summary"):
            lines.append(entry["summary"])
        old = self.items.pop(node.name(), None)
        if old is not None and old.scene() is not None:
            old.scene().removeItem(old)
        group = QtWidgets.QGraphicsRectItem(node.view)
        group.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
        text = QtWidgets.QGraphicsSimpleTextItem("\n".join(lines), group)
        text.setBrush(QtGui.QBrush(QtGui.QColor("#cfe8cf")))
        font = QtGui.QFont()
        font.setPointSize(8)
        text.setFont(font)
        height = text.boundingRect().height()
        image = QtGui.QImage(entry.get("image", "")) if entry.get("image") else QtGui.QImage()
        if not image.isNull():
            picture = QtWidgets.QGraphicsPixmapItem(QtGui.QPixmap.fromImage(
                image.scaledToHeight(THUMB, QtCore.Qt.TransformationMode.SmoothTransformation)), group)
            picture.setPos(0, height + 2)
        group.setPos(2, node.view.boundingRect().height() + 4)
        group.setToolTip(entry.get("text") or "\n".join(lines))
        self.items[node.name()] = group

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
