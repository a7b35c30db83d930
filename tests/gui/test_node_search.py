"""Adding nodes from the canvas: a link dropped on empty canvas searches the node types that accept
it and links the one picked; a double-click on empty canvas searches every type; while a link is
dragged, the ports it may be dropped on are ringed."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtTest, QtWidgets

from tests.gui.conftest import LEFT, names, node, small_workflow, view_point

NONE = QtCore.Qt.KeyboardModifier.NoModifier


def empty_point(window: Any) -> QtCore.QPoint:
    """A point of the canvas with nothing on it, away from every node."""
    viewer = window.graph.viewer()
    rect = viewer.viewport().rect()
    for y in range(rect.bottom() - 30, 30, -20):
        for x in range(rect.right() - 30, 30, -20):
            point = QtCore.QPoint(x, y)
            near = QtCore.QRect(point - QtCore.QPoint(60, 60), QtCore.QSize(120, 120))
            if not viewer.items(near):
                return point
    raise AssertionError("no empty canvas in view")


def move(viewport: QtWidgets.QWidget, start: QtCore.QPoint, end: QtCore.QPoint) -> None:
    for step in range(1, 11):
        point = start + (end - start) * step / 10
        QtWidgets.QApplication.sendEvent(viewport, QtGui.QMouseEvent(
            QtCore.QEvent.Type.MouseMove, QtCore.QPointF(point), QtCore.QPointF(viewport.mapToGlobal(point)),
            LEFT, LEFT, NONE))


def linked_to(port: Any) -> list[str]:
    return [f"{p.node().name()}.{p.name()}" for p in port.connected_ports()]


def test_a_link_dropped_on_empty_canvas_adds_the_node_picked_linked(qtbot: Any, make_window: Any,
                                                                     tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path))
    window.resize(1280, 720)
    window.fit_view()
    viewport = window.graph.viewer().viewport()
    output = node(window, "CNN").get_output("model")
    start, end = view_point(window, output.view), empty_point(window)
    QtTest.QTest.mousePress(viewport, LEFT, NONE, start)
    move(viewport, start, end)
    ringed = window.graph.search.ringed()  # while the link is dragged: where it may go
    assert "Trainer.model" in ringed and "Evaluate.model" in ringed
    assert not any(p.endswith((".train", ".val", ".dataset")) for p in ringed)
    QtTest.QTest.mouseRelease(viewport, LEFT, NONE, end)
    assert window.graph.search.ringed() == []
    popup = window.graph.search.popup
    qtbot.waitUntil(popup.isVisible)
    shown = popup.shown()
    assert "Evaluate  ·  model" in shown and "Trainer  ·  model" in shown
    assert not any(entry.startswith(("Digits", "Split")) for entry in shown)  # they take no model
    QtTest.QTest.keyClicks(popup.text, "evalu")
    QtTest.QTest.keyClick(popup.text, QtCore.Qt.Key.Key_Return)
    assert not popup.isVisible()
    assert "Evaluate2" in names(window)
    added = node(window, "Evaluate2")
    assert linked_to(added.get_input("model")) == ["CNN.model"]
    dropped = window.graph.viewer().mapToScene(end)
    assert QtCore.QLineF(QtCore.QPointF(*added.pos()), dropped).length() < 200  # where the link was dropped
    window.undo.undo()  # one step takes the node and its link away
    assert "Evaluate2" not in names(window) and linked_to(output) == ["Trainer.model"]


def test_a_double_click_on_empty_canvas_searches_every_node_type(qtbot: Any, make_window: Any,
                                                                 tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path))
    window.resize(1280, 720)
    window.fit_view()
    viewport = window.graph.viewer().viewport()
    point = empty_point(window)
    QtTest.QTest.mouseDClick(viewport, LEFT, NONE, point)
    popup = window.graph.search.popup
    qtbot.waitUntil(popup.isVisible)
    assert {"Digits", "Split", "Trainer", "Evaluate"} <= set(popup.shown())
    QtTest.QTest.keyClicks(popup.text, "split")
    assert "Split" in popup.shown() and popup.list.currentItem().text() == "Split"  # the best match first
    QtTest.QTest.keyClick(popup.text, QtCore.Qt.Key.Key_Return)
    assert "Split2" in names(window)
    added = node(window, "Split2")
    assert not any(p.connected_ports() for p in added.input_ports())
    there = window.graph.viewer().mapToScene(point)
    assert QtCore.QLineF(QtCore.QPointF(*added.pos()), there).length() < 200


def test_a_history_link_dropped_on_empty_canvas_says_nothing_takes_it(qtbot: Any, make_window: Any,
                                                                       tmp_path: Path) -> None:
    """No node type has a history input: the search says so in words instead of showing an empty list."""
    window = make_window(small_workflow(tmp_path))
    window.resize(1280, 720)
    window.fit_view()
    viewport = window.graph.viewer().viewport()
    start, end = view_point(window, node(window, "Trainer").get_output("history").view), empty_point(window)
    QtTest.QTest.mousePress(viewport, LEFT, NONE, start)
    move(viewport, start, end)
    QtTest.QTest.mouseRelease(viewport, LEFT, NONE, end)
    popup = window.graph.search.popup
    qtbot.waitUntil(popup.isVisible)
    assert popup.shown() == [] and not popup.list.isVisible()
    message = popup.findChild(QtWidgets.QLabel, "node_search_empty")
    assert message.isVisible() and "No node type has an input that takes Trainer.history" in message.text()
    assert message.geometry().bottom() <= popup.rect().bottom()  # the words are inside the popup
    QtTest.QTest.keyClick(popup, QtCore.Qt.Key.Key_Escape)
    assert not popup.isVisible() and "Trainer2" not in names(window)


def test_the_search_opened_near_the_screen_bottom_shows_its_last_entry(qtbot: Any, make_window: Any,
                                                                       tmp_path: Path) -> None:
    """A double-click low on the screen: the popup is moved up onto the screen, so its list scrolls to the end."""
    window = make_window(small_workflow(tmp_path))
    window.resize(1000, 600)
    window.fit_view()
    viewport = window.graph.viewer().viewport()
    point = empty_point(window)
    screen = window.screen().availableGeometry()
    window.move(window.x(), window.y() + screen.bottom() - 40 - viewport.mapToGlobal(point).y())
    QtWidgets.QApplication.processEvents()
    assert screen.bottom() - 60 < viewport.mapToGlobal(point).y() <= screen.bottom()
    QtTest.QTest.mouseDClick(viewport, LEFT, NONE, point)
    popup = window.graph.search.popup
    qtbot.waitUntil(popup.isVisible)
    assert screen.contains(popup.frameGeometry()), (popup.frameGeometry(), screen)
    for _ in range(popup.list.count()):
        QtTest.QTest.keyClick(popup.text, QtCore.Qt.Key.Key_Down)
    last = popup.list.item(popup.list.count() - 1)
    assert popup.list.currentItem() is last
    shown = popup.list.visualItemRect(last)
    assert popup.list.viewport().rect().contains(shown)
    on_screen = QtCore.QRect(popup.list.viewport().mapToGlobal(shown.topLeft()), shown.size())
    assert screen.contains(on_screen), (on_screen, screen)  # the user can see it
