"""Results on the nodes follow a node dragged with the mouse, and are placed again after the drop: a
result never covers another node, neither the dragged node's result nor the result of a node it lands
next to."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtTest, QtWidgets

from nodeflow.gui.results import BADGE_BAND
from tests.gui.conftest import LEFT, node, small_workflow
from tests.gui.test_running import run_and_wait

NONE = QtCore.Qt.KeyboardModifier.NoModifier


def drag_node(window: Any, item: Any, to: QtCore.QPointF) -> None:
    """Press on the node's title, move in steps, release: its top-left corner lands at scene point `to`."""
    viewer = window.graph.viewer()
    viewport = viewer.viewport()
    body = item.view.sceneBoundingRect()
    grip = QtCore.QPointF(body.left() + 12, body.top() + 8)  # the title bar, left of its text
    start, end = viewer.mapFromScene(grip), viewer.mapFromScene(grip + (to - body.topLeft()))
    assert viewport.rect().contains(start) and viewport.rect().contains(end), (start, end, viewport.rect())
    QtTest.QTest.mousePress(viewport, LEFT, NONE, start)
    for step in range(1, 11):
        point = start + (end - start) * step / 10
        event = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(point),
                                  QtCore.QPointF(viewport.mapToGlobal(point)), LEFT, LEFT, NONE)
        QtWidgets.QApplication.sendEvent(viewport, event)
    QtTest.QTest.mouseRelease(viewport, LEFT, NONE, end)
    QtWidgets.QApplication.processEvents()


def pan_down(window: Any, pixels: int) -> None:
    """A middle-button drag down the canvas: what lies above the view comes into it."""
    viewport = window.graph.viewer().viewport()
    middle, start = QtCore.Qt.MouseButton.MiddleButton, viewport.rect().center() - QtCore.QPoint(0, pixels // 2)
    QtTest.QTest.mousePress(viewport, middle, NONE, start)
    for step in range(1, 11):
        point = start + QtCore.QPoint(0, pixels * step // 10)
        event = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(point),
                                  QtCore.QPointF(viewport.mapToGlobal(point)), middle, middle, NONE)
        QtWidgets.QApplication.sendEvent(viewport, event)
    QtTest.QTest.mouseRelease(viewport, middle, NONE, start + QtCore.QPoint(0, pixels))
    QtWidgets.QApplication.processEvents()


def covered(window: Any) -> list[tuple[str, str]]:
    """(result's node, other node) where a result block covers another node's body or badge."""
    results = window.runs.results.items
    bodies = {n.name(): n.view.sceneBoundingRect().adjusted(0, -BADGE_BAND, 0, 0) for n in window.graph.all_nodes()}
    return [(name, other) for name, block in results.items() for other, body in bodies.items()
            if other != name and block.sceneBoundingRect().intersects(body)]


def near(window: Any, name: str) -> bool:
    """Whether a node's result sits next to it (touching its body, badge band or a few pixels off)."""
    body = node(window, name).view.sceneBoundingRect().adjusted(-20, -BADGE_BAND - 20, 20, 20)
    return body.intersects(window.runs.results.items[name].sceneBoundingRect())


def at(item: Any, point: QtCore.QPointF) -> bool:
    """Whether the node's top-left corner is at `point`, give or take the pixel rounding of the drag."""
    return (item.view.sceneBoundingRect().topLeft() - point).manhattanLength() < 4


def test_a_dragged_node_takes_its_result_along_and_no_result_covers_a_node(qtbot: Any, make_window: Any,
                                                                           tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=1))
    assert run_and_wait(qtbot, window)[0] == 0, window.runs.panel.console.toPlainText()
    window.graph.fit_to_selection()
    QtWidgets.QApplication.processEvents()
    trainer, evaluate, digits = node(window, "Trainer"), node(window, "Evaluate"), node(window, "Digits")
    assert "best val_loss" in window.runs.results.text_of("Trainer") and covered(window) == []

    # the data node dropped right under the Trainer's body, where the Trainer's result was
    under = trainer.view.sceneBoundingRect().bottomLeft() + QtCore.QPointF(0, BADGE_BAND + 6)
    drag_node(window, digits, under)
    assert at(digits, under)  # the drag moved it there
    assert covered(window) == [] and near(window, "Trainer"), covered(window)

    # the Trainer dragged to just above Evaluate: its result can no longer go under it
    above = evaluate.view.sceneBoundingRect().topLeft() - QtCore.QPointF(
        0, trainer.view.sceneBoundingRect().height() + BADGE_BAND + 10)
    before = window.runs.results.items["Trainer"].sceneBoundingRect()
    pan_down(window, 160)  # room on screen above Evaluate
    drag_node(window, trainer, above)
    assert at(trainer, above)
    assert window.runs.results.items["Trainer"].sceneBoundingRect() != before  # not left behind
    assert near(window, "Trainer") and near(window, "Evaluate")
    assert covered(window) == [], covered(window)
    assert "best val_loss" in window.runs.results.text_of("Trainer")  # a move is no edit: the results stay
