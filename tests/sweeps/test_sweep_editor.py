"""Run > Sweep… in the editor: the dialog opened by its shortcut, a bad range refused in the dialog, a
range typed in, the study run in a child process, trials and plots in the Sweep tab, a trial's run
opened in the Runs tab, and the best params applied to the graph as one undoable edit."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.gui.conftest import answer_modal, make_window, node  # noqa: F401 (make_window: a fixture)
from tests.sweeps.conftest import small_workflow

from PySide6 import QtCore, QtTest, QtWidgets  # after the offscreen setup in tests.gui

from nodeflow.gui.graph import params_of
from nodeflow.gui.sweep_panel import SweepPanel

KEY, NONE = QtCore.Qt.Key, QtCore.Qt.KeyboardModifier.NoModifier


def test_sweep_dialog_runs_a_study_and_applies_the_best_params_as_one_undo_step(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:  # noqa: F811
    window = make_window(small_workflow(tmp_path, epochs=1))
    lr_before = params_of(node(window, "Trainer"))["lr"]

    def fill(dialog: QtWidgets.QWidget) -> None:
        assert dialog.objectName() == "sweep_dialog"
        assert dialog.findChild(QtWidgets.QComboBox, "sweep_param_0").currentText() == "Trainer.lr"
        text = dialog.findChild(QtWidgets.QLineEdit, "sweep_range_0")
        start = dialog.findChild(QtWidgets.QPushButton, "sweep_start")
        text.selectAll()
        QtTest.QTest.keyClicks(text, "loguniform:0:1")  # refused as the command line refuses it
        QtTest.QTest.mouseClick(start, QtCore.Qt.MouseButton.LeftButton)
        error = dialog.findChild(QtWidgets.QLabel, "sweep_error").text()
        assert dialog.isVisible() and "node 'Trainer' field 'lr'" in error and "at least 1e-08" in error, error
        text.selectAll()
        QtTest.QTest.keyClicks(text, "choice:0.02,0.0001")
        trials = dialog.findChild(QtWidgets.QSpinBox, "sweep_trials")
        trials.selectAll()
        QtTest.QTest.keyClicks(trials, "2")
        QtTest.QTest.mouseClick(start, QtCore.Qt.MouseButton.LeftButton)

    window.activateWindow()
    QtTest.QTest.qWaitForWindowActive(window)
    with answer_modal(qtbot, fill):  # the menu's shortcut, pressed on the canvas
        QtTest.QTest.keyClick(window.graph.viewer(), KEY.Key_F5, QtCore.Qt.KeyboardModifier.ControlModifier
                              | QtCore.Qt.KeyboardModifier.ShiftModifier)
    panel = window.findChild(SweepPanel)
    assert panel is not None and window.runs.panel.tabs.currentWidget() is panel
    qtbot.waitUntil(lambda: panel.finished, timeout=300_000)
    assert [t["state"] for t in panel.trials] == ["complete", "complete"], panel.status.text()
    assert panel.table.rowCount() == 2
    assert {t["params"]["Trainer.lr"] for t in panel.trials} <= {0.02, 0.0001}  # the range typed in
    assert all(not label.pixmap().isNull() for label in panel.plots)  # history and parallel coordinates

    panel.table.scrollToItem(panel.table.item(1, 0))
    point = panel.table.visualItemRect(panel.table.item(1, 0)).center()
    assert panel.table.viewport().rect().contains(point)
    QtTest.QTest.mouseClick(panel.table.viewport(), QtCore.Qt.MouseButton.LeftButton, NONE, point)
    QtTest.QTest.mouseDClick(panel.table.viewport(), QtCore.Qt.MouseButton.LeftButton, NONE, point)
    runs = window.runs.panel.runs
    assert window.runs.panel.tabs.currentWidget() is runs
    assert [r["id"] for r in runs.selected()] == [panel.trials[1]["run_id"]]

    window.runs.panel.tabs.setCurrentWidget(panel)
    best = min(panel.trials, key=lambda t: t["value"])
    QtTest.QTest.mouseClick(panel.apply, QtCore.Qt.MouseButton.LeftButton)
    assert params_of(node(window, "Trainer"))["lr"] == best["params"]["Trainer.lr"] != lr_before
    assert window.modified()
    window.undo.undo()  # one step takes the whole edit back
    assert params_of(node(window, "Trainer"))["lr"] == lr_before and not window.modified()
