"""Export… in the Checkpoints panel: a format and a file, the export in a child process, its result inline."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import onnxruntime
from PySide6 import QtCore, QtTest, QtWidgets

from tests.export.families import BY_NAME, NET, save, save_python
from tests.gui.conftest import LEFT, answer_modal

WAIT_MS = 120000
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier


def type_path(dialog: Any, text: str) -> None:
    QtTest.QTest.keyClick(dialog.path, QtCore.Qt.Key.Key_A, CTRL)
    QtTest.QTest.keyClicks(dialog.path, text)


def press(widget: QtWidgets.QWidget) -> None:
    QtTest.QTest.mouseClick(widget, LEFT)


def test_export_shows_the_refusal_then_the_difference_inline(make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    checkpoint = save(BY_NAME["mlp"], tmp_path / "saved")
    (tmp_path / "model.onnx").write_bytes(b"someone's model")
    window = make_window()
    panel = window.runs.panel.checkpoints
    window.runs.panel.tabs.setCurrentWidget(panel)
    panel.set_folder(checkpoint.parent)
    item = panel.table.item(0, 0)
    QtTest.QTest.mouseClick(panel.table.viewport(), LEFT, pos=panel.table.visualItemRect(item).center())
    seen: dict[str, Any] = {}

    def fill(dialog: QtWidgets.QWidget) -> None:
        assert dialog.objectName() == "export_dialog"
        seen["dialog"] = dialog
        QtTest.QTest.keyClick(dialog.format, QtCore.Qt.Key.Key_Down)  # the format choice: TorchScript
        seen["torchscript_path"] = dialog.path.text()
        QtTest.QTest.keyClick(dialog.format, QtCore.Qt.Key.Key_Up)  # back to ONNX
        type_path(dialog, "model.onnx")
        press(dialog.run_button)

    with answer_modal(qtbot, fill):
        press(panel.buttons["export"])
    dialog = seen["dialog"]
    assert seen["torchscript_path"].endswith(".pt") and dialog.format.currentData() == "onnx"
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=WAIT_MS)
    assert "exists and NodeFlow did not write it" in dialog.result.text()
    assert (tmp_path / "model.onnx").read_bytes() == b"someone's model"

    type_path(dialog, "exported.onnx")
    press(dialog.run_button)
    assert dialog.result.text().startswith("Exporting") and not dialog.run_button.isEnabled()  # not waited for
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=WAIT_MS)
    assert "max |difference| against torch" in dialog.result.text(), dialog.result.text()
    assert "max |difference| against torch" in window.runs.panel.console.toPlainText()
    QtWidgets.QApplication.processEvents()  # the dialog grew to show the whole line; no field was squashed for it
    assert dialog.result.height() >= dialog.result.heightForWidth(dialog.result.width())
    assert dialog.path.height() >= dialog.path.sizeHint().height()
    session = onnxruntime.InferenceSession(str(tmp_path / "exported.onnx"), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": BY_NAME["mlp"].inputs(3)[0].numpy()})
    assert out.shape == (3, 3)


def test_user_code_runs_only_once_the_trust_box_is_ticked(make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    checkpoint = save_python(NET.format(noise=""), tmp_path / "code")
    window = make_window()
    panel = window.runs.panel.checkpoints
    window.runs.panel.tabs.setCurrentWidget(panel)
    panel.set_folder(checkpoint.parent)
    item = panel.table.item(0, 0)
    QtTest.QTest.mouseClick(panel.table.viewport(), LEFT, pos=panel.table.visualItemRect(item).center())
    seen: dict[str, Any] = {}

    def fill(dialog: QtWidgets.QWidget) -> None:
        seen["dialog"] = dialog
        QtTest.QTest.keyClick(dialog.format, QtCore.Qt.Key.Key_Down)  # TorchScript
        type_path(dialog, "net.pt")
        press(dialog.run_button)

    with answer_modal(qtbot, fill):
        press(panel.buttons["export"])
    dialog = seen["dialog"]
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=WAIT_MS)
    assert "not loaded: rebuilding its model runs the Python file" in dialog.result.text()
    assert "Here: tick “Run the model's own Python code" in dialog.result.text()
    assert not (tmp_path / "net.pt").exists()
    QtTest.QTest.mouseClick(dialog.trust, LEFT, pos=QtCore.QPoint(8, dialog.trust.height() // 2))
    assert dialog.trust.isChecked()
    press(dialog.run_button)
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=WAIT_MS)
    assert "max |difference| against torch" in dialog.result.text(), dialog.result.text()
    assert (tmp_path / "net.pt").is_file()
