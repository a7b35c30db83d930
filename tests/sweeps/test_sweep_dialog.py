"""The Sweep dialog on its own: it paints without errors, its Param column shows whole names, a new
row offers a number param not listed yet, and its messages name params as the graph does."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.gui.conftest import answer_modal, make_window  # noqa: F401 (make_window: a fixture)
from tests.sweeps.conftest import small_workflow

from PySide6 import QtCore, QtTest, QtWidgets  # after the offscreen setup in tests.gui

from nodeflow.gui.errors import ErrorReporter
from nodeflow.gui.graph import PARAM_PREFIX
from nodeflow.gui.sweep_dialog import SweepDialog

LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.mark.qt_no_exception_capture
def test_the_dialog_paints_without_an_error(qtbot: Any, make_window: Any, tmp_path: Path) -> None:  # noqa: F811
    window = make_window(small_workflow(tmp_path))
    hook = sys.excepthook
    ErrorReporter(window, tmp_path / "errors.log").install()
    try:
        dialog = SweepDialog(window)
        dialog.show()
        qtbot.waitExposed(dialog)
        dialog.repaint()
        QtWidgets.QApplication.processEvents()
    finally:
        sys.excepthook = hook
    issues = [window.runs.panel.issues.item(i).text() for i in range(window.runs.panel.issues.count())]
    assert issues == [] and not (tmp_path / "errors.log").exists(), issues
    from nodeflow.gui.sweep_panel import SweepPanel

    for widget, base in ((dialog, QtWidgets.QDialog), (SweepPanel.of(window), QtWidgets.QWidget)):
        shadowing = [name for name, value in vars(widget).items()  # Qt calls these methods by name
                     if hasattr(base, name) and not isinstance(value, QtCore.SignalInstance)]
        assert shadowing == [], (type(widget).__name__, shadowing)
    dialog.close()


def test_param_names_show_whole_and_a_new_row_offers_another_number_param(qtbot: Any, make_window: Any,  # noqa: F811
                                                                           tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path))
    dialog = SweepDialog(window)
    dialog.show()
    qtbot.waitExposed(dialog)
    QtTest.QTest.mouseClick(dialog.findChild(QtWidgets.QPushButton, "sweep_add"), LEFT)
    QtTest.QTest.mouseClick(dialog.findChild(QtWidgets.QPushButton, "sweep_add"), LEFT)
    names = [dialog.findChild(QtWidgets.QComboBox, f"sweep_param_{r}").currentText() for r in range(3)]
    assert names[0] == "Trainer.lr" and len(set(names)) == 3, names
    kinds = {f"{n.name}.{p.name}": p.type for n in dialog.workflow.nodes.values()
             for p in window.registry.get(n.type).params}
    assert all(kinds[name] in ("int", "float") for name in names), names
    for row, name in enumerate(names):  # the whole name fits in its column
        box = dialog.findChild(QtWidgets.QComboBox, f"sweep_param_{row}")
        assert dialog.table.columnWidth(0) >= box.fontMetrics().horizontalAdvance(name), name
    # a bad range: the message names the param, not the command line's flag
    text = dialog.findChild(QtWidgets.QLineEdit, "sweep_range_1")
    text.selectAll()
    QtTest.QTest.keyClicks(text, "loguniform:5:1")
    QtTest.QTest.mouseClick(dialog.findChild(QtWidgets.QPushButton, "sweep_start"), LEFT)
    error = dialog.findChild(QtWidgets.QLabel, "sweep_error").text()
    assert dialog.isVisible() and "--param" not in error and names[1].split(".")[1] in error, error
    dialog.close()


def test_unsaved_changes_are_saved_from_the_dialog(qtbot: Any, make_window: Any, tmp_path: Path) -> None:  # noqa: F811
    workflow = small_workflow(tmp_path)
    window = make_window(workflow)
    trainer = next(n for n in window.graph.all_nodes() if n.name() == "Trainer")
    trainer.set_property(PARAM_PREFIX + "epochs", 5)
    assert window.modified()
    dialog = SweepDialog(window)
    dialog.show()
    qtbot.waitExposed(dialog)

    def save(box: QtWidgets.QWidget) -> None:
        assert isinstance(box, QtWidgets.QMessageBox) and "Save" in box.text(), box
        QtTest.QTest.mouseClick(box.button(QtWidgets.QMessageBox.StandardButton.Save), LEFT)

    with answer_modal(qtbot, save):
        QtTest.QTest.mouseClick(dialog.findChild(QtWidgets.QPushButton, "sweep_start"), LEFT)
    assert dialog.result() == QtWidgets.QDialog.DialogCode.Accepted and not window.modified()
    assert '"epochs": 5' in workflow.read_text()
