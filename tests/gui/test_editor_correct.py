"""The editor under ordinary use: each press does what it says, at a laptop's window size,
and nothing the editor shows outlives the graph it describes."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtTest, QtWidgets

from nodeflow.gui import editing
from nodeflow.gui.badges import badge_of
from nodeflow.gui.errors import ErrorReporter
from nodeflow.gui.placement import links_under_nodes, rect_of
from tests.conftest import WORKFLOWS
from tests.gui.conftest import LEFT, answer_modal, click, drag_link, node, small_workflow, view_point
from tests.gui.test_running import RUN_TIMEOUT_MS, run_and_wait

NONE = QtCore.Qt.KeyboardModifier.NoModifier


def press(window: Any, key: QtCore.Qt.Key, modifier: QtCore.Qt.KeyboardModifier = NONE) -> None:
    """A key on the canvas of the active window, so the menus' shortcuts see it as a user's would."""
    window.activateWindow()
    QtTest.QTest.qWaitForWindowActive(window)
    QtTest.QTest.keyClick(window.graph.viewer(), key, modifier)


def check_and_wait(qtbot: Any, window: Any) -> int:
    with qtbot.waitSignal(window.runs.process.ended, timeout=RUN_TIMEOUT_MS) as ended:
        window.runs.panel.check_button.click()
    return ended.args[0]


def test_after_check_delete_new_and_validate_still_work(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path))
    assert check_and_wait(qtbot, window) == 0 and window.runs.labels.texts()
    click(window, node(window, "Evaluate"))
    press(window, QtCore.Qt.Key.Key_Delete)  # deletes the links the Check labelled
    assert "Evaluate" not in [n.name() for n in window.graph.all_nodes()]
    assert window.runs.labels.texts() == []
    window.runs.panel.validate_button.click()
    assert window.runs.panel.status.text() == "Valid: ready to run"
    assert check_and_wait(qtbot, window) == 0  # a second Check after the delete works too
    window.undo.setClean()
    window.new()  # File > New after a Check: the old graph's console, labels and status go with it
    assert window.graph.all_nodes() == [] and window.runs.labels.texts() == []
    assert window.runs.panel.console.toPlainText() == "" and window.runs.panel.status.text() == "Idle"
    assert window.runs.panel.progress.value() == 0 and window.hint.isVisible()


def test_selecting_the_trainer_at_1280x720_keeps_the_window_and_the_run_controls_on_screen(
        qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.height() == 720)
    click(window, node(window, "Trainer"))
    qtbot.wait(100)
    assert window.properties.findChild(QtWidgets.QLineEdit, "value_checkpoint_dir").text() == \
        "checkpoints/digits_cnn/{run}"
    assert (window.width(), window.height()) == (1280, 720)
    run = window.runs.panel.run_button
    bottom_right = run.mapTo(window, QtCore.QPoint(run.width(), run.height()))
    assert run.isVisible() and window.rect().contains(bottom_right)
    seen: list[str] = []
    title = node(window, "Trainer").view._text_item  # a double-click on the title opens the dialog too
    point = window.graph.viewer().mapFromScene(title.sceneBoundingRect().center())
    def look(dialog: QtWidgets.QDialog) -> None:
        fits = dialog.height() <= dialog.screen().availableGeometry().height() - 40  # OK and Cancel on screen
        seen.append(f"{dialog.objectName()} {'fits' if fits else 'taller than the screen'}")
        dialog.reject()

    with answer_modal(qtbot, look):
        QtTest.QTest.mouseDClick(window.graph.viewer().viewport(), LEFT, NONE, point)
    assert seen == ["param_dialog fits"] and node(window, "Trainer").name() == "Trainer"
    click(window, node(window, "Split"))  # the dialog took the double-click's release: this click still selects
    assert [n.name() for n in window.graph.selected_nodes()] == ["Split"]


def test_a_refused_link_keeps_the_link_it_was_dropped_on(qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    evaluate = node(window, "Evaluate")
    drag_link(window, node(window, "Trainer").get_output("history"), evaluate.get_input("dataset"))
    assert "Link refused" in window.statusBar().currentMessage()
    assert [p.node().name() for p in evaluate.get_input("dataset").connected_ports()] == ["Split"]
    assert window.undo.count() == 0 and not window.isWindowModified()


def test_after_ctrl_e_a_click_selects_and_a_drag_links(qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    press(window, QtCore.Qt.Key.Key_Escape)
    click(window, node(window, "Trainer"))

    ctrl = QtCore.Qt.KeyboardModifier.ControlModifier

    def cancel(dialog: QtWidgets.QWidget) -> None:
        QtTest.QTest.keyRelease(dialog, QtCore.Qt.Key.Key_E, ctrl)  # the releases land in the dialog
        QtTest.QTest.keyRelease(dialog, QtCore.Qt.Key.Key_Control)
        dialog.reject()

    with answer_modal(qtbot, cancel):
        QtTest.QTest.keyPress(window.graph.viewer(), QtCore.Qt.Key.Key_Control, ctrl)
        QtTest.QTest.keyPress(window.graph.viewer(), QtCore.Qt.Key.Key_E, ctrl)
    click(window, node(window, "Split"))
    assert [n.name() for n in window.graph.selected_nodes()] == ["Split"]
    evaluate = node(window, "Evaluate")
    evaluate.get_input("dataset").disconnect_from(node(window, "Split").get_output("test"))
    drag_link(window, node(window, "Split").get_output("val"), evaluate.get_input("dataset"))
    assert [p.name() for p in evaluate.get_input("dataset").connected_ports()] == ["val"]


def choose(prefix: str, seen: dict[str, Any]) -> Any:
    def act(box: QtWidgets.QMessageBox) -> None:
        assert box.objectName() == "folder_in_use"
        seen["text"], seen["default"] = box.text(), box.defaultButton().text()
        next(b for b in box.buttons() if b.text().startswith(prefix)).click()
    return act


def test_a_finished_run_is_described_and_defaults_to_a_new_folder_or_trains_more_epochs(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    path = small_workflow(tmp_path, epochs=1)
    saved = path.read_bytes()
    window = make_window(path)
    assert run_and_wait(qtbot, window)[0] == 0
    final = (tmp_path / "ck" / "final_model.pt").read_bytes()
    editing.set_params(window.graph, node(window, "Trainer"), {"lr": 0.002})  # unchanged, it would be reused
    seen: dict[str, Any] = {}
    with answer_modal(qtbot, choose("Train 1 more", seen)):
        code, _ = run_and_wait(qtbot, window)
    assert code == 0, window.runs.panel.console.toPlainText()
    assert "finished 1/1 epochs, best val_loss" in seen["text"] and seen["default"].startswith("New folder")
    manifest = json.loads((tmp_path / "ck" / "manifest.json").read_text())
    assert manifest["checkpoints"]["final_model.pt"]["epoch"] == 2
    assert (tmp_path / "ck" / "final_model.pt").read_bytes() != final
    assert path.read_bytes() == saved  # the choice was for that run only
    assert node(window, "Trainer").get_property("nf_param_resume") == ""
    assert node(window, "Trainer").get_property("nf_param_epochs") == 1


def test_runs_never_rewrite_the_workflow_file(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    path = small_workflow(tmp_path, epochs=1)
    saved = path.read_bytes()
    window = make_window(path)
    editing.set_params(window.graph, node(window, "Trainer"), {"epochs": 2})
    node(window, "Trainer").set_pos(999, 999)
    assert run_and_wait(qtbot, window)[0] == 0
    assert path.read_bytes() == saved and window.isWindowModified()
    assert json.loads((tmp_path / "ck" / "manifest.json").read_text())["checkpoints"]["final_model.pt"]["epoch"] == 2


def test_new_and_pasted_nodes_land_clear_of_others_and_f_frames_the_graph(qtbot: Any, make_window: Any) -> None:
    window = make_window()
    spec = window.registry.get("model.cnn")
    first, second = editing.add_node(window.graph, spec, (0, 0)), editing.add_node(window.graph, spec, (0, 0))
    assert not rect_of(first).intersects(rect_of(second))
    click(window, first)
    press(window, QtCore.Qt.Key.Key_C, QtCore.Qt.KeyboardModifier.ControlModifier)
    press(window, QtCore.Qt.Key.Key_V, QtCore.Qt.KeyboardModifier.ControlModifier)
    rects = [rect_of(n) for n in window.graph.all_nodes()]
    assert len(rects) == 3 and not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])
    first.set_pos(5000, 5000)
    press(window, QtCore.Qt.Key.Key_A, QtCore.Qt.KeyboardModifier.ControlModifier)
    press(window, QtCore.Qt.Key.Key_F)
    viewport = window.graph.viewer().viewport()
    for item in window.graph.all_nodes():
        assert viewport.rect().contains(view_point(window, item.view))


@pytest.mark.parametrize("example", sorted(p.name for p in WORKFLOWS.glob("*.json")))
def test_auto_layout_keeps_links_out_from_under_nodes(make_window: Any, example: str) -> None:
    window = make_window(WORKFLOWS / example)
    assert links_under_nodes(window.graph) == []  # as shipped
    press(window, QtCore.Qt.Key.Key_L, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.undo.undoText() == "Auto layout"
    assert links_under_nodes(window.graph) == []


def test_a_fixed_field_loses_its_issue_mark_and_open_clears_the_old_issues(make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    trainer = node(window, "Trainer")
    editing.set_params(window.graph, trainer, {"checkpoint_dir": "a{nonsense}"})
    window.runs.panel.validate_button.click()
    assert badge_of(trainer) == "issue" and window.runs.panel.issues.count() == 1
    editing.set_params(window.graph, trainer, {"checkpoint_dir": "checkpoints/x"})
    assert badge_of(trainer) == "idle"
    editing.set_params(window.graph, trainer, {"checkpoint_dir": "b{nonsense}"})
    window.runs.panel.validate_button.click()
    window.undo.setClean()
    assert window.open_path(WORKFLOWS / "wine_mlp.json")
    assert window.runs.panel.issues.count() == 0 and window.runs.panel.status.text() == "Idle"


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_shown_logged_and_the_editor_stays_usable(qtbot: Any, make_window: Any,
                                                                            tmp_path: Path) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    hook = sys.excepthook
    ErrorReporter(window, tmp_path / "errors.log").install()
    try:
        QtCore.QTimer.singleShot(0, lambda: {}["no such key"])  # a slot that raises, from the event loop
        qtbot.waitUntil(lambda: window.runs.panel.issues.count() > 0)
    finally:
        sys.excepthook = hook
    item = window.runs.panel.issues.item(0)
    assert item.text().startswith("Internal error: KeyError") and "Traceback" in item.toolTip()
    assert "KeyError" in window.statusBar().currentMessage()
    assert "KeyError: 'no such key'" in (tmp_path / "errors.log").read_text()
    window.runs.panel.validate_button.click()
    assert window.runs.panel.status.text() == "Valid: ready to run"


def test_ctrl_z_and_ctrl_shift_z_on_the_canvas_undo_and_redo(make_window: Any) -> None:
    """NodeGraphQt's view holds undo/redo actions on the same keys as the Edit menu: Qt calls such a
    shortcut ambiguous and runs neither, so the view's copies must not keep those keys."""
    window = make_window(WORKFLOWS / "digits_cnn.json")
    click(window, node(window, "Evaluate"))
    press(window, QtCore.Qt.Key.Key_Delete)
    assert "Evaluate" not in {n.name() for n in window.graph.all_nodes()}
    press(window, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert "Evaluate" in {n.name() for n in window.graph.all_nodes()}
    press(window, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier
          | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert "Evaluate" not in {n.name() for n in window.graph.all_nodes()}
