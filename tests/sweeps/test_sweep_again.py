"""A sweep run again from the editor: another param set is refused in the dialog (a fresh study name
offered), the same one adds trials to the study, the Sweep tab lists the study's every trial, Stop
is off once the child process ended, and the tab does not push the window past a 1280x720 screen."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from tests.gui.conftest import answer_modal, make_window  # noqa: F401 (make_window: a fixture)
from tests.sweeps.conftest import load, small_workflow
from tests.sweeps.test_sweep_plots import assert_whole, shown_x_labels

from PySide6 import QtCore, QtTest, QtWidgets  # after the offscreen setup in tests.gui

from nodeflow import cli
from nodeflow.gui.sweep_panel import SweepPanel
from nodeflow.sweep.plots import history_figure
from nodeflow.sweep.recorded import read_study

LEFT = QtCore.Qt.MouseButton.LeftButton
RANGE = "choice:0.02,0.0001"


def press_sweep(window: Any) -> None:
    QtTest.QTest.keyClick(window.graph.viewer(), QtCore.Qt.Key.Key_F5, QtCore.Qt.KeyboardModifier.ControlModifier
                          | QtCore.Qt.KeyboardModifier.ShiftModifier)


def type_into(field: QtWidgets.QWidget, text: str) -> None:
    field.selectAll()
    QtTest.QTest.keyClicks(field, text)


def test_a_second_sweep_adds_trials_and_lists_them_all(qtbot: Any, make_window: Any,  # noqa: F811
                                                       tmp_path: Path) -> None:
    workflow = small_workflow(tmp_path, epochs=1)
    window = make_window(workflow)
    screen = window.screen().availableGeometry()
    window.setGeometry(screen.adjusted(10, 40, -10, -20))
    assert cli.main(["sweep", str(workflow), "--param", f"Trainer.lr={RANGE}", "--trials", "1",
                     "--pruner", "none"]) == 0  # an earlier sweep, from the command line
    recorded = read_study(load(tmp_path), "wine")  # its history plot counts its one trial as 0, not 0.000
    assert_whole(shown_x_labels(history_figure(list(recorded.rows), recorded.metric, recorded.direction)))
    window.activateWindow()
    QtTest.QTest.qWaitForWindowActive(window)

    def other_params(dialog: QtWidgets.QWidget) -> None:
        type_into(dialog.findChild(QtWidgets.QLineEdit, "sweep_range_0"), RANGE)
        QtTest.QTest.mouseClick(dialog.findChild(QtWidgets.QPushButton, "sweep_add"), LEFT)
        QtTest.QTest.mouseClick(dialog.findChild(QtWidgets.QPushButton, "sweep_start"), LEFT)
        error = dialog.findChild(QtWidgets.QLabel, "sweep_error").text()
        assert dialog.isVisible() and "Study 'wine' was started with params Trainer.lr=" in error, error
        assert dialog.findChild(QtWidgets.QLineEdit, "sweep_study").text() == "wine_2"
        dialog.reject()

    with answer_modal(qtbot, other_params):
        press_sweep(window)

    def same_params(dialog: QtWidgets.QWidget) -> None:
        assert "already has 1 trial;" in dialog.findChild(QtWidgets.QLabel, "sweep_held").text()
        type_into(dialog.findChild(QtWidgets.QLineEdit, "sweep_range_0"), RANGE)
        type_into(dialog.findChild(QtWidgets.QSpinBox, "sweep_trials"), "1")
        QtTest.QTest.mouseClick(dialog.findChild(QtWidgets.QPushButton, "sweep_start"), LEFT)

    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeModalWidget() is None)
    window.activateWindow()  # the refused dialog's window hands activation back
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)
    with answer_modal(qtbot, same_params):
        press_sweep(window)
    panel = window.findChild(SweepPanel)
    assert panel.stop.isEnabled()
    qtbot.waitUntil(lambda: panel.finished, timeout=300_000)
    assert [t["trial"] for t in panel.trials] == [0, 1] and panel.table.rowCount() == 2, panel.status.text()
    with (tmp_path / "sweeps" / "wine" / "sweep.csv").open() as f:
        assert [row["trial"] for row in csv.DictReader(f)] == ["0", "1"]
    shown = re.fullmatch(r"Best: trial [01], val_loss ([\d.]+) \(Trainer\.lr=([\d.e-]+)\)", panel.status.text())
    assert shown, panel.status.text()  # the best value and the params that gave it
    assert all(len(number.lstrip("0.").replace(".", "")) <= 4 for number in shown.groups())  # 4 significant digits
    assert not panel.stop.isEnabled()  # nothing left to stop
    QtWidgets.QApplication.processEvents()
    assert window.frameGeometry().height() <= screen.height(), (window.frameGeometry(), screen)
    assert window.graph.viewer().height() >= 200  # the canvas keeps room to work in
    assert all(not label.pixmap().isNull() for label in panel.plots)
