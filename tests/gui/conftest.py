"""Real editor windows, offscreen; helpers that act as a user would (clicks, dialogs, keys)."""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Offscreen, on one 1280x720 screen: a laptop's, where a window or dialog that outgrows it shows
os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={Path(__file__).with_name('screen_1280x720.json')}"

import pytest
from PySide6 import QtCore, QtGui, QtTest, QtWidgets

from nodeflow.core import default_registry
from nodeflow.gui.graph import spec_of
from nodeflow.gui.window import MainWindow
from tests.conftest import WORKFLOWS

LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., MainWindow]]:
    """Windows whose settings live in tmp_path and whose runs write under tmp_path."""
    monkeypatch.chdir(tmp_path)
    made: list[MainWindow] = []

    def make(workflow: Path | None = None) -> MainWindow:
        settings = QtCore.QSettings(str(tmp_path / f"settings{len(made)}.ini"), QtCore.QSettings.Format.IniFormat)
        window = MainWindow(default_registry(), settings, tmp_path)
        window.show()
        QtCore.QCoreApplication.processEvents()  # as it first appears: its docks sized once it is shown
        if workflow is not None:
            assert window.open_path(workflow), window.banner.text.text()
        made.append(window)
        return window

    yield make
    for window in made:  # closed here, not by qtbot: its close would meet the unsaved-changes prompt
        if window.runs.process.running():
            window.runs.process.process.kill()
            window.runs.process.wait(5000)
        window.undo.setClean()
        window.close()
        window.deleteLater()


def small_workflow(tmp_path: Path, name: str = "small.json", **trainer: Any) -> Path:
    """The digits example with a short Trainer, saved in tmp_path."""
    doc = json.loads((WORKFLOWS / "digits_cnn.json").read_text())
    doc["nodes"]["trainer"]["params"].update({"epochs": 3, "save_every_n_epochs": 1, "checkpoint_dir": "ck",
                                             "batch_size": 128, **trainer})
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2))
    return path


def node(window: MainWindow, name: str) -> Any:
    found = [n for n in window.graph.all_nodes() if n.name() == name]
    assert found, f"no node named {name}"
    return found[0]


def names(window: MainWindow) -> list[str]:
    return sorted(n.name() for n in window.graph.all_nodes() if spec_of(n) is not None)


def view_point(window: MainWindow, item: QtWidgets.QGraphicsItem) -> QtCore.QPoint:
    return window.graph.viewer().mapFromScene(item.sceneBoundingRect().center())


@contextmanager
def answer_modal(qtbot: Any, act: Callable[[QtWidgets.QWidget], None], timeout: int = 10000) -> Iterator[None]:
    """`with answer_modal(qtbot, act): press()` runs `act` on the modal dialog the press opens.

    The test fails when no modal dialog appears within `timeout` ms of the block's end, and
    with the error `act` raised; polling stops when the block ends.
    """
    state: dict[str, Any] = {"answered": False, "errors": [], "stop": False}

    def poll() -> None:
        if state["stop"]:
            return
        dialog = QtWidgets.QApplication.activeModalWidget()
        if dialog is None:
            QtCore.QTimer.singleShot(20, poll)
            return
        state["answered"] = True
        try:
            act(dialog)
        except Exception as exc:  # reported by the test, after the dialog is closed
            state["errors"].append(repr(exc))
            dialog.reject() if hasattr(dialog, "reject") else dialog.close()

    QtCore.QTimer.singleShot(0, poll)
    try:
        yield
        try:
            qtbot.waitUntil(lambda: state["answered"], timeout=timeout)
        except qtbot.TimeoutError:
            pytest.fail(f"no modal dialog appeared within {timeout} ms")
    finally:
        state["stop"] = True
    assert not state["errors"], state["errors"]


def click(window: MainWindow, item: Any) -> None:
    QtTest.QTest.mouseClick(window.graph.viewer().viewport(), LEFT, QtCore.Qt.KeyboardModifier.NoModifier,
                            view_point(window, item.view))


def double_click(window: MainWindow, item: Any) -> None:
    QtTest.QTest.mouseDClick(window.graph.viewer().viewport(), LEFT, QtCore.Qt.KeyboardModifier.NoModifier,
                             view_point(window, item.view))


def drag_link(window: MainWindow, out_port: Any, in_port: Any) -> None:
    """Press on an output port, move to an input port, release: the gesture a user makes."""
    viewport = window.graph.viewer().viewport()
    start, end = view_point(window, out_port.view), view_point(window, in_port.view)
    QtTest.QTest.mousePress(viewport, LEFT, QtCore.Qt.KeyboardModifier.NoModifier, start)
    for step in range(1, 11):
        point = start + (end - start) * step / 10
        event = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(point),
                                  QtCore.QPointF(viewport.mapToGlobal(point)), LEFT, LEFT,
                                  QtCore.Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(viewport, event)
    QtTest.QTest.mouseRelease(viewport, LEFT, QtCore.Qt.KeyboardModifier.NoModifier, end)

