"""Params on the node's body: typed in place, checked as the dialog checks them, one undo step each,
and what runs is what the body shows."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtTest, QtWidgets

from nodeflow.gui.graph import params_of
from tests.gui.conftest import LEFT, node, small_workflow
from tests.gui.test_running import run_and_wait

NONE = QtCore.Qt.KeyboardModifier.NoModifier


def type_on_node(window: Any, name: str, param: str, text: str) -> QtWidgets.QLineEdit:
    """Click the field on the node's body, select its text, type, press Return: as a user does."""
    window.activateWindow()
    QtTest.QTest.qWaitForWindowActive(window)
    field = node(window, name).view.widgets[f"nf_param_{param}"]
    viewer = window.graph.viewer()
    point = viewer.mapFromScene(field.sceneBoundingRect().center() + QtCore.QPointF(0, 6))
    QtTest.QTest.mouseClick(viewer.viewport(), LEFT, NONE, point)
    line = field.line
    assert line.hasFocus(), f"a click on {name}'s {param} field did not focus it"
    QtTest.QTest.keyClick(viewer.viewport(), QtCore.Qt.Key.Key_End)
    for _ in range(len(line.text())):
        QtTest.QTest.keyClick(viewer.viewport(), QtCore.Qt.Key.Key_Backspace)
    QtTest.QTest.keyClicks(viewer.viewport(), text)
    QtTest.QTest.keyClick(viewer.viewport(), QtCore.Qt.Key.Key_Return)
    return line


def test_a_value_typed_on_the_trainer_is_applied_undone_and_refused_when_invalid(make_window: Any,
                                                                                   tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=3))
    type_on_node(window, "Trainer", "epochs", "7")
    assert params_of(node(window, "Trainer"))["epochs"] == 7 and window.isWindowModified()
    window.undo.undo()
    assert params_of(node(window, "Trainer"))["epochs"] == 3
    assert node(window, "Trainer").view.widgets["nf_param_epochs"].line.text() == "3"
    line = type_on_node(window, "Trainer", "epochs", "-5")
    assert params_of(node(window, "Trainer"))["epochs"] == 3  # refused, as the dialog refuses it
    assert "Trainer.epochs:" in window.statusBar().currentMessage() and "at least 1" in line.toolTip()
    type_on_node(window, "Trainer", "checkpoint_dir", "runs/{nonsense}")
    assert params_of(node(window, "Trainer"))["checkpoint_dir"] == "ck"
    assert "placeholder" in window.statusBar().currentMessage()


def test_a_value_typed_on_the_node_is_what_runs(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=3))
    type_on_node(window, "Trainer", "epochs", "1")
    assert run_and_wait(qtbot, window)[0] == 0, window.runs.panel.console.toPlainText()
    manifest = json.loads((tmp_path / "ck" / "manifest.json").read_text())
    assert manifest["checkpoints"]["final_model.pt"]["epoch"] == 1
