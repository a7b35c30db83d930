"""The editor in a practitioner's second week: nothing stale or wrong on screen after Open, Save As,
a run, an undo or a refused edit. Each test drives the real widgets (clicks, keys, menu commands)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nodeflow
from PySide6 import QtCore, QtGui, QtTest, QtWidgets

from nodeflow.gui.graph import params_of
from nodeflow.gui.sweep_panel import SweepPanel
from tests.conftest import WORKFLOWS
from tests.gui.conftest import LEFT, answer_modal, click, node, small_workflow
from tests.gui.test_running import RUN_TIMEOUT_MS, run_and_wait

NONE = QtCore.Qt.KeyboardModifier.NoModifier
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
REPO = Path(__file__).resolve().parents[2]


def press(window: Any, key: QtCore.Qt.Key, modifier: QtCore.Qt.KeyboardModifier = NONE) -> None:
    """A key on the canvas of the active window, where the menus' shortcuts see it."""
    window.activateWindow()
    QtTest.QTest.qWaitForWindowActive(window)
    QtTest.QTest.keyClick(window.graph.viewer(), key, modifier)


def menu_command(window: Any, *path: str) -> None:
    """File > Examples > wine_mlp: the menu action a click on that entry triggers."""
    actions = window.menuBar().actions()
    for name in path:
        action = next(a for a in actions if a.text().replace("&", "") == name)
        actions = action.menu().actions() if action.menu() else []
    action.trigger()


def type_into(widget: QtWidgets.QWidget, text: str) -> None:
    widget.setFocus()
    QtTest.QTest.keyClick(widget, QtCore.Qt.Key.Key_A, CTRL)
    QtTest.QTest.keyClicks(widget, text)
    QtTest.QTest.keyClick(widget, QtCore.Qt.Key.Key_Return)


# --- 1. Open and New re-scope what describes one workflow ------------------------------------------

def test_after_open_the_old_sweep_curves_and_results_are_gone_and_the_new_trainer_keeps_its_params(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=1, batch_size=256))
    assert run_and_wait(qtbot, window)[0] == 0
    assert window.runs.panel.curves.points("train_loss") and window.runs.results.by_node
    panel = SweepPanel.of(window)
    with qtbot.waitSignal(panel.process.ended, timeout=RUN_TIMEOUT_MS):
        panel.start(window.meta.path, ["Trainer.lr=loguniform:0.01:0.1"], 1, "val_loss", "none", "small")
    assert panel.apply.isEnabled() and panel.best["params"]["Trainer.lr"] > 0.01
    menu_command(window, "File", "Examples", "wine_mlp")
    assert window.meta.path.name == "wine_mlp.json"
    trainer = node(window, "Trainer")
    before = params_of(trainer)
    left = window.findChild(SweepPanel)
    if left is not None and left.apply.isEnabled():
        QtTest.QTest.mouseClick(left.apply, LEFT)
    assert params_of(trainer) == before, "the digits study's best params reached the wine Trainer"
    tabs = window.runs.panel.tabs
    assert "Sweep" not in [tabs.tabText(i) for i in range(tabs.count())]
    assert window.runs.panel.curves.points("train_loss") == [] and window.runs.results.by_node == {}
    assert not window.isWindowModified()


# --- 2. Save As rebases relative input paths -------------------------------------------------------

def text_workflow(folder: Path) -> Path:
    """A TextFile node reading corpus.txt beside the workflow file, as Browse… stores it."""
    folder.mkdir(parents=True)
    (folder / "corpus.txt").write_text("to be or not to be " * 200)
    doc = {"format": "nodeflow.workflow", "version": 1, "name": "text",
           "nodes": {"text": {"type": "data.text_file", "name": "Text", "params": {"path": "corpus.txt"}}},
           "links": []}
    path = folder / "text.json"
    path.write_text(json.dumps(doc))
    return path


def test_save_as_into_another_folder_keeps_a_relative_input_path_pointing_at_its_file(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(text_workflow(tmp_path / "project" / "a"))
    target = tmp_path / "project" / "copy.json"

    def save_there(dialog: QtWidgets.QWidget) -> None:
        assert isinstance(dialog, QtWidgets.QFileDialog)
        dialog.selectFile(str(target))  # typed paths meet the dialog's completer popup offscreen
        dialog.accept()

    with answer_modal(qtbot, save_there):
        press(window, QtCore.Qt.Key.Key_S, CTRL | QtCore.Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(target.exists)
    saved = json.loads(target.read_text())
    assert saved["nodes"]["text"]["params"]["path"] == "a/corpus.txt"
    assert params_of(node(window, "Text"))["path"] == "a/corpus.txt"
    QtTest.QTest.mouseClick(window.runs.panel.validate_button, LEFT)
    assert window.runs.panel.status.text() == "Valid: ready to run", window.runs.panel.issues.item(0).text()


def test_the_python_api_save_into_another_folder_rebases_the_same_way(tmp_path: Path) -> None:
    flow = nodeflow.load(text_workflow(tmp_path / "a"))
    elsewhere = tmp_path / "b" / "text.json"
    elsewhere.parent.mkdir()
    flow.save(elsewhere)
    assert json.loads(elsewhere.read_text())["nodes"]["text"]["params"]["path"] == str(tmp_path / "a" / "corpus.txt")
    nodeflow.load(elsewhere).validate()  # raised "file not found" before
    assert flow["Text"].params["path"] == str(tmp_path / "a" / "corpus.txt")


# --- 4. Removing a node the run uses asks first ------------------------------------------------------

def test_deleting_the_trainer_during_a_run_asks_and_cancel_keeps_it_stop_ends_the_run(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=50))
    with qtbot.waitSignal(window.runs.process.event, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda e: e["event"] == "fit_start"):
        QtTest.QTest.mouseClick(window.runs.panel.run_button, LEFT)
    click(window, node(window, "Trainer"))
    asked: list[str] = []

    def answer(label: str) -> Any:
        def act(box: QtWidgets.QWidget) -> None:
            asked.append(box.objectName())
            next(b for b in box.buttons() if b.text() == label).click()
        return act

    with answer_modal(qtbot, answer("Cancel the edit")):
        press(window, QtCore.Qt.Key.Key_Delete)
    assert asked == ["remove_running_prompt"] and "Trainer" in [n.name() for n in window.graph.all_nodes()]
    assert window.runs.process.running()
    with qtbot.waitSignal(window.runs.process.ended, timeout=RUN_TIMEOUT_MS) as ended:
        with answer_modal(qtbot, answer("Stop the run")):
            press(window, QtCore.Qt.Key.Key_Delete)
    assert ended.args[0] == 130 and "Trainer" not in [n.name() for n in window.graph.all_nodes()]


# --- 7. State that lies ---------------------------------------------------------------------------------

def test_select_all_and_a_refused_paste_leave_the_file_unmodified_and_several_nodes_are_named(
        make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    press(window, QtCore.Qt.Key.Key_A, CTRL)
    assert len(window.graph.selected_nodes()) == 5
    assert not window.isWindowModified() and window.undo.count() == 0
    assert window.properties.title.text() == "5 nodes selected" and "Trainer" in window.properties.about.text()
    doc = json.loads((WORKFLOWS / "digits_cnn.json").read_text())
    doc["nodes"]["trainer"]["type"] = "train.nothing_like_it"
    QtWidgets.QApplication.clipboard().setText(json.dumps(doc))
    press(window, QtCore.Qt.Key.Key_V, CTRL)
    assert "unknown node type" in window.statusBar().currentMessage()
    assert not window.isWindowModified() and window.undo.count() == 0


def test_check_passed_goes_with_an_undo_and_a_check_never_says_run_completed(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=1))
    type_into(node(window, "Trainer").get_widget("nf_param_epochs").line, "2")
    assert params_of(node(window, "Trainer"))["epochs"] == 2
    with qtbot.waitSignal(window.runs.process.ended, timeout=RUN_TIMEOUT_MS):
        QtTest.QTest.mouseClick(window.runs.panel.check_button, LEFT)
    assert window.runs.panel.status.text().startswith("Check passed.")
    assert "Run completed" not in window.runs.panel.console.toPlainText()
    assert "Check passed in" in window.runs.panel.console.toPlainText()
    QtTest.QTest.mouseClick(window.graph.viewer().viewport(), LEFT, pos=QtCore.QPoint(5, 5))  # off the field
    press(window, QtCore.Qt.Key.Key_Z, CTRL)
    assert params_of(node(window, "Trainer"))["epochs"] == 1
    assert "Check passed" not in window.runs.panel.status.text()


def test_an_empty_canvas_does_not_pass_validate_check_or_run(qtbot: Any, make_window: Any, run_index: Path) -> None:
    window = make_window()
    recorded = set(run_index.glob("*.json"))
    for button in ("validate_button", "check_button", "run_button"):
        QtTest.QTest.mouseClick(getattr(window.runs.panel, button), LEFT)
        assert not window.runs.process.running(), button
        assert window.runs.panel.status.text() == "1 issue(s) found", button
        assert "the canvas is empty" in window.runs.panel.issues.item(0).text()
    qtbot.wait(200)
    assert set(run_index.glob("*.json")) == recorded


def test_a_red_field_on_the_node_stops_validate_from_saying_ready(make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    field = node(window, "Trainer").get_widget("nf_param_lr").line
    type_into(field, "fast")
    QtTest.QTest.mouseClick(window.runs.panel.validate_button, LEFT)
    assert window.runs.panel.status.text() == "1 issue(s) found"
    assert "'fast' typed on the node is not applied" in window.runs.panel.issues.item(0).text()


def test_checkpoint_buttons_with_nothing_selected_say_what_to_do(make_window: Any, tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    nodeflow.load(small_workflow(tmp_path, epochs=1, batch_size=256)).run()
    window = make_window(small_workflow(tmp_path, epochs=1, batch_size=256))
    panel = window.runs.panel.checkpoints
    window.runs.panel.tabs.setCurrentWidget(panel)
    assert panel.folder == folder and panel.records
    for key, says in (("compare", "Select 2 or more checkpoints"), ("export", "Select a checkpoint"),
                      ("delete", "Select a checkpoint"), ("resume", "Select a checkpoint")):
        QtTest.QTest.mouseClick(panel.buttons[key], LEFT)
        assert panel.note.isVisible() and panel.note.text().startswith(says), key


def test_quitting_with_discard_prints_no_traceback(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from pathlib import Path
        from PySide6 import QtCore, QtTest, QtWidgets
        app = QtWidgets.QApplication([])
        from nodeflow.core import default_registry
        from nodeflow.gui.window import MainWindow
        settings = QtCore.QSettings(r"{tmp_path / 's.ini'}", QtCore.QSettings.Format.IniFormat)
        window = MainWindow(default_registry(), settings, Path.cwd())
        window.show()
        window.open_path(Path(r"{WORKFLOWS / 'digits_cnn.json'}"))
        window.graph.all_nodes()[0].set_property("name", "Renamed")  # an unsaved edit
        def discard():
            box = QtWidgets.QApplication.activeModalWidget()
            if box is None:
                return QtCore.QTimer.singleShot(20, discard)
            box.button(QtWidgets.QMessageBox.StandardButton.Discard).click()
        QtCore.QTimer.singleShot(0, discard)
        QtCore.QTimer.singleShot(0, window.close)
        app.exec()
        print("closed" if not window.isVisible() else "still open")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert "closed" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_the_export_refusal_names_no_command_line_flag(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    from tests.export.families import BY_NAME, save

    checkpoint = save(BY_NAME["mlp"], tmp_path / "saved")
    (tmp_path / "copy.pt").write_bytes(b"someone's file")
    window = make_window()
    panel = window.runs.panel.checkpoints
    window.runs.panel.tabs.setCurrentWidget(panel)
    panel.set_folder(checkpoint.parent)
    item = panel.table.item(0, 0)
    QtTest.QTest.mouseClick(panel.table.viewport(), LEFT, pos=panel.table.visualItemRect(item).center())
    seen: dict[str, Any] = {}

    def fill(dialog: Any) -> None:
        seen["dialog"] = dialog
        dialog.format.setFocus()
        for _ in range(2):
            QtTest.QTest.keyClick(dialog.format, QtCore.Qt.Key.Key_Down)  # the checkpoint copy
        type_into(dialog.path, str(tmp_path / "copy.pt"))
        QtTest.QTest.mouseClick(dialog.run_button, LEFT)

    with answer_modal(qtbot, fill):
        QtTest.QTest.mouseClick(panel.buttons["export"], LEFT)
    dialog = seen["dialog"]
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=120000)
    text = dialog.result.text()
    assert "NodeFlow did not write it" in text and "--" not in text, text
    assert (tmp_path / "copy.pt").read_bytes() == b"someone's file"


# --- 8. Stop, then Run offers to continue the stopped run ----------------------------------------------

def test_stop_then_run_on_a_run_folder_offers_to_continue_the_stopped_run(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=3, checkpoint_dir="ck/{run}", batch_size=256))
    with qtbot.waitSignal(window.runs.process.event, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda e: e["event"] == "checkpoint_saved"):
        QtTest.QTest.mouseClick(window.runs.panel.run_button, LEFT)
    with qtbot.waitSignal(window.runs.process.ended, timeout=RUN_TIMEOUT_MS) as ended:
        QtTest.QTest.mouseClick(window.runs.panel.stop_button, LEFT)
    assert ended.args[0] == 130
    asked: list[str] = []

    def keep_going(box: QtWidgets.QWidget) -> None:
        asked.append(f"{box.objectName()}: {box.text()}")
        next(b for b in box.buttons() if b.text() == "Continue").click()

    with qtbot.waitSignal(window.runs.process.ended, timeout=RUN_TIMEOUT_MS) as ended:
        with answer_modal(qtbot, keep_going):
            QtTest.QTest.mouseClick(window.runs.panel.run_button, LEFT)
    assert ended.args[0] == 0, window.runs.panel.console.toPlainText()
    assert asked and asked[0].startswith(
        "continue_run: Trainer: the last run of this workflow stopped early; ck/run_1 holds")
    assert not (tmp_path / "ck" / "run_2").exists()
    manifest = json.loads((tmp_path / "ck" / "run_1" / "manifest.json").read_text())
    assert any(e.get("kind") == "final" and e.get("epoch") == 3 for e in manifest["checkpoints"].values())


# --- beyond the fixes ---------------------------------------------------------------------------------

def test_the_properties_panel_edits_a_param_in_place_with_the_dialogs_checks(make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    trainer = node(window, "Trainer")
    click(window, trainer)
    QtWidgets.QApplication.processEvents()  # the panel's new fields show on the next turn of the event loop
    lr = window.properties.findChild(QtWidgets.QLineEdit, "value_lr")
    type_into(lr, "fast")
    error = window.properties.findChild(QtWidgets.QLabel, "value_lr_error")
    assert error.isVisible() and "fast" in error.text() and params_of(trainer)["lr"] == 0.001
    assert not window.isWindowModified()
    type_into(lr, "0.01")
    assert params_of(trainer)["lr"] == 0.01 and not error.isVisible() and window.isWindowModified()
    assert node(window, "Trainer").get_widget("nf_param_lr").line.text() == "0.01"  # the node's field follows
    press(window, QtCore.Qt.Key.Key_Z, CTRL)
    assert params_of(trainer)["lr"] == 0.001 and lr.text() == "0.001" and not window.isWindowModified()


def test_help_lists_the_shortcuts_and_getting_started_says_what_to_do_first(qtbot: Any, make_window: Any) -> None:
    window = make_window()
    rows: list[str] = []

    def read(sheet: QtWidgets.QWidget) -> None:
        table = sheet.findChild(QtWidgets.QTableWidget, "shortcut_table")
        rows.extend(f"{table.item(r, 0).text()} {table.item(r, 1).text()}" for r in range(table.rowCount()))
        sheet.reject()

    with answer_modal(qtbot, read):
        press(window, QtCore.Qt.Key.Key_F1)
    assert "F5 Run > Run" in rows and any(r.startswith("Tab ") for r in rows)
    assert QtGui.QKeySequence("Ctrl+S").toString() + " File > Save" in rows
    menu_command(window, "Help", "Getting Started")
    assert window.banner.isVisible() and "press Run (F5)" in window.banner.text.text()
    QtTest.QTest.mouseClick(window.banner.findChild(QtWidgets.QPushButton, "banner_open"), LEFT)
    assert window.meta.path is not None and window.meta.path.name == "digits_cnn.json"


def test_the_sweep_dialog_offers_metrics_and_pruners_and_shows_rates_to_four_digits(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, lr=0.0012345))
    seen: dict[str, Any] = {}

    def look(dialog: Any) -> None:
        metric, pruner = dialog.metric_box, dialog.pruner
        seen["metrics"] = [metric.itemText(i) for i in range(metric.count())]
        seen["pruners"] = [pruner.itemData(i) for i in range(pruner.count())]
        seen["range"] = dialog.findChild(QtWidgets.QLineEdit, "sweep_range_0").text()
        dialog.reject()

    with answer_modal(qtbot, look):
        press(window, QtCore.Qt.Key.Key_F5, CTRL | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert seen["metrics"][0] == "val_loss" and "val_accuracy" in seen["metrics"]
    assert "val_mean_dice" not in seen["metrics"]  # not a classifier's metric
    assert seen["pruners"] == ["median", "median:1", "none"]
    assert seen["range"] == "loguniform:0.0001234:0.01234"
