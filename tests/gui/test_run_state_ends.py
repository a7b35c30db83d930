"""The editor at 1280x720: the canvas gets most of the height, and the first-run hint goes once a
Check (or Run) has passed."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtTest, QtWidgets

from nodeflow.gui import help_menu
from tests.gui.conftest import small_workflow
from tests.gui.test_running import RUN_TIMEOUT_MS


def test_at_1280x720_the_canvas_is_taller_than_the_run_dock_and_the_hint_goes_after_a_check(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=1))
    help_menu.first_run_hint(window)
    assert window.banner.isVisible() and window.banner.text.text().startswith("New here?")
    canvas, dock = window.graph.viewer(), window.findChild(QtWidgets.QDockWidget, "dock_run")
    qtbot.waitUntil(lambda: dock.height() <= window.height() // 3)  # the docks' first sizes are set once shown
    assert window.height() <= 680 and canvas.height() > 1.4 * dock.height()
    with qtbot.waitSignal(window.runs.process.ended, timeout=RUN_TIMEOUT_MS) as ended:
        QtTest.QTest.mouseClick(window.runs.panel.check_button, QtCore.Qt.MouseButton.LeftButton)
    assert ended.args[0] == 0, window.runs.panel.console.toPlainText()
    assert not window.banner.isVisible()  # the hint has served: the canvas gets the room back
    qtbot.waitUntil(lambda: canvas.height() > 1.8 * dock.height())  # and the canvas takes its room
