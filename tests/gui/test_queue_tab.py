"""The Queue tab and Run > Add to Queue / Submit to…: the real queue (SQLite under a NODEFLOW_HOME of the
test's own), real key chords and clicks, real `nodeflow submit` checks."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtTest, QtWidgets

from nodeflow.queue.store import Queue
from tests.conftest import ROOT, WORKFLOWS
from nodeflow.gui import editing, help_menu
from tests.gui.conftest import answer_modal, node

CTRL_SHIFT = QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier
LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("NODEFLOW_HOME", str(folder))
    return folder


def wine(tmp_path: Path, name: str = "wine.json", **trainer: Any) -> Path:
    """The wine example, one epoch, its data found from anywhere, saved in tmp_path."""
    doc = json.loads((WORKFLOWS / "wine_mlp.json").read_text())
    doc["nodes"]["wine"]["params"]["path"] = str(WORKFLOWS / "data" / "wine.csv")
    doc["nodes"]["trainer"]["params"].update({"epochs": 1, "checkpoint_dir": "ck/{run}", **trainer})
    doc["nodes"]["predict"]["params"]["path"] = "pred.csv"
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2))
    return path


def chord(window: Any, key: QtCore.Qt.Key = QtCore.Qt.Key.Key_Return) -> None:
    """Ctrl+Shift+KEY on the canvas of the active window, as a user presses it."""
    window.activateWindow()
    QtTest.QTest.qWaitForWindowActive(window)
    QtTest.QTest.keyClick(window.graph.viewer(), key, CTRL_SHIFT)


def table_rows(window: Any) -> list[list[str]]:
    table = window.runs.panel.queue.table
    return [[table.item(r, c).text() for c in range(3)] for r in range(table.rowCount())]


def selected_id(window: Any) -> str:
    table = window.runs.panel.queue.table
    return table.item(table.selectedIndexes()[0].row(), 0).text()


def states(home: Path) -> list[tuple[int, str]]:
    queue = Queue(home / "queue" / "queue.db")
    try:
        return [(r.id, r.state) for r in queue.rows()]
    finally:
        queue.close()


def click(button: QtWidgets.QAbstractButton) -> None:
    QtTest.QTest.mouseClick(button, LEFT)


def test_ctrl_shift_enter_queues_the_open_workflow_and_the_queue_tab_shows_it(make_window, tmp_path, home):
    path = wine(tmp_path)
    window = make_window(path)
    tab = window.runs.panel.queue
    chord(window)  # Ctrl+Shift+Return
    assert window.runs.panel.tabs.currentWidget() is tab
    assert table_rows(window) == [["1", "wine.json", "queued"]]
    assert selected_id(window) == "1"
    assert tab.status.text().startswith("Queued run 1:")
    chord(window, QtCore.Qt.Key.Key_Enter)  # Ctrl+Shift+Enter (the keypad's)
    assert table_rows(window) == [["1", "wine.json", "queued"], ["2", "wine.json", "queued"]]
    assert selected_id(window) == "2"
    queue = Queue(home / "queue" / "queue.db")
    assert [(r.workflow, r.target, r.cwd) for r in queue.rows()] == [(str(path), "local", str(tmp_path))] * 2
    assert (home / "queue" / "runs" / "1" / "workflow.json").read_text() == path.read_text()
    queue.close()
    assert ("Run", "Add to Queue", "Ctrl+Shift+Enter, Ctrl+Shift+Return") in help_menu.shortcuts(window)  # F1's sheet


def test_the_buttons_reorder_cancel_pause_and_resume_in_the_store(make_window, tmp_path, home):
    window = make_window(wine(tmp_path))
    tab = window.runs.panel.queue
    for _ in range(3):
        chord(window)
    tab.table.clearSelection()
    for name in ("up", "down", "cancel", "pause", "resume", "open"):  # nothing selected: each says so
        tab.status.setText("")
        click(tab.buttons[name])
        assert tab.status.text().startswith("Select a run in the list first"), name
    tab.table.selectRow(2)
    click(tab.buttons["up"])  # run 3 before run 2
    assert [i for i, _ in states(home)] == [1, 3, 2]
    assert [row[0] for row in table_rows(window)] == ["1", "3", "2"] and selected_id(window) == "3"
    click(tab.buttons["up"])
    assert [i for i, _ in states(home)] == [3, 1, 2]
    click(tab.buttons["up"])
    assert tab.status.text() == "run 3 is already first in line"
    click(tab.buttons["down"])
    assert [i for i, _ in states(home)] == [1, 3, 2] and tab.status.text() == "run 3 is now 2 in line"
    click(tab.buttons["pause"])
    assert dict(states(home))[3] == "paused" and table_rows(window)[1] == ["3", "wine.json", "paused"]
    click(tab.buttons["resume"])
    assert dict(states(home))[3] == "queued"
    click(tab.buttons["cancel"])
    assert dict(states(home))[3] == "cancelled" and tab.status.text() == "run 3 cancelled"
    assert table_rows(window)[-1] == ["3", "wine.json", "cancelled"]  # the waiting runs first, then the rest
    click(tab.buttons["resume"])  # refused by the queue itself, in its own words
    assert tab.status.text() == "field 'ID': run 3 is cancelled; this needs it paused"
    click(tab.buttons["open"])
    assert "has recorded no run yet" in tab.status.text()


def test_a_workflow_that_fails_its_checks_is_not_queued(make_window, tmp_path, home):
    path = wine(tmp_path, epochs=0)
    window = make_window(path)
    chord(window)
    text = window.runs.panel.queue.status.text()
    assert text.startswith(f"Not queued: {path}: node 'Trainer' field 'epochs':"), text
    assert "\n" not in text and states(home) == []


def test_unsaved_edits_are_saved_first_or_nothing_is_queued(qtbot, make_window, tmp_path, home):
    path = wine(tmp_path)
    window = make_window(path)
    editing.set_params(window.graph, node(window, "Trainer"), {"epochs": 2})  # as the Properties panel does
    assert window.modified()
    cancel = QtWidgets.QMessageBox.StandardButton.Cancel
    with answer_modal(qtbot, lambda box: box.button(cancel).click()):
        chord(window)
    assert window.runs.panel.queue.status.text().startswith("Not queued: a queued run runs the saved workflow")
    assert states(home) == []
    save = QtWidgets.QMessageBox.StandardButton.Save
    with answer_modal(qtbot, lambda box: box.button(save).click()):
        chord(window)
    assert states(home) == [(1, "queued")] and not window.modified()
    queued = json.loads((home / "queue" / "runs" / "1" / "workflow.json").read_text())
    assert queued["nodes"]["trainer"]["params"]["epochs"] == 2  # the edit, saved before it was queued


def slurm_refusal() -> str:
    """What this machine says to a partition no cluster has: no Slurm commands, no cluster, or no such partition."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return "sbatch and scontrol are not on PATH"
    return ("Slurm did not answer|could not ask Slurm for its partitions|"
            "Partition: no partition 'no-such-partition' on this cluster")


def test_submit_to_slurm_is_refused_inline_and_the_settings_come_back(qtbot, make_window, tmp_path, home):
    window = make_window(wine(tmp_path))
    submit_to = window.findChild(QtGui.QAction, "submit_to")
    seen: dict[str, Any] = {}

    def fill(dialog: QtWidgets.QDialog) -> None:
        assert dialog.objectName() == "submit_dialog"
        assert dialog.width() <= 1280 and dialog.height() <= 720 - 40  # fits a laptop's screen, title bar too
        click(dialog.findChild(QtWidgets.QRadioButton, "submit_slurm"))
        partition = dialog.findChild(QtWidgets.QLineEdit, "submit_partition")
        assert partition.isEnabled()
        QtTest.QTest.keyClicks(partition, "no-such-partition")
        time_limit = dialog.findChild(QtWidgets.QLineEdit, "submit_time")
        time_limit.clear()
        QtTest.QTest.keyClicks(time_limit, "1:30:00")
        dialog.findChild(QtWidgets.QSpinBox, "submit_gpus").setValue(2)
        QtTest.QTest.keyClicks(dialog.findChild(QtWidgets.QPlainTextEdit, "submit_sbatch"), "--mem=8G")
        QtTest.QTest.keyClicks(dialog.findChild(QtWidgets.QPlainTextEdit, "submit_setup"), "module load cuda")
        click(dialog.findChild(QtWidgets.QPushButton, "submit_button"))
        seen["error"] = dialog.findChild(QtWidgets.QLabel, "submit_error").text()
        seen["open"] = dialog.isVisible()
        dialog.reject()

    with answer_modal(qtbot, fill, timeout=60000):
        submit_to.trigger()
    assert seen["open"], "the dialog closed on a refusal"
    assert any(seen["error"].startswith(start) for start in slurm_refusal().split("|")), seen["error"]
    assert "\n" not in seen["error"] and states(home) == []

    def check(dialog: QtWidgets.QDialog) -> None:
        seen["slurm"] = dialog.findChild(QtWidgets.QRadioButton, "submit_slurm").isChecked()
        seen["fields"] = [dialog.findChild(QtWidgets.QLineEdit, f"submit_{n}").text() for n in ("partition", "time")]
        seen["gpus"] = dialog.findChild(QtWidgets.QSpinBox, "submit_gpus").value()
        seen["lines"] = [dialog.findChild(QtWidgets.QPlainTextEdit, f"submit_{n}").toPlainText()
                         for n in ("sbatch", "setup")]
        dialog.reject()

    with answer_modal(qtbot, check):
        submit_to.trigger()
    assert seen["slurm"] and seen["fields"] == ["no-such-partition", "1:30:00"] and seen["gpus"] == 2
    assert seen["lines"] == ["--mem=8G", "module load cuda"]
    other = make_window(wine(tmp_path, "other.json"))  # remembered per workflow file: another one starts afresh
    with answer_modal(qtbot, check):
        other.findChild(QtGui.QAction, "submit_to").trigger()
    assert not seen["slurm"] and seen["fields"] == ["", "60"]


def test_submit_to_the_local_queue_with_a_device(qtbot, make_window, tmp_path, home):
    window = make_window(wine(tmp_path))

    def local(dialog: QtWidgets.QDialog) -> None:
        assert dialog.findChild(QtWidgets.QRadioButton, "submit_local").isChecked()
        assert not dialog.findChild(QtWidgets.QLineEdit, "submit_partition").isEnabled()
        dialog.findChild(QtWidgets.QComboBox, "submit_device").setCurrentText("cpu")
        click(dialog.findChild(QtWidgets.QPushButton, "submit_button"))

    with answer_modal(qtbot, local):
        window.findChild(QtGui.QAction, "submit_to").trigger()
    queue = Queue(home / "queue" / "queue.db")
    assert [(r.id, r.state, r.device) for r in queue.rows()] == [(1, "queued", "cpu")]
    queue.close()
    assert table_rows(window) == [["1", "wine.json", "queued"]] and selected_id(window) == "1"


def test_a_run_a_worker_finished_says_done_and_opens_in_the_runs_tab(qtbot, make_window, tmp_path, home):
    window = make_window(wine(tmp_path))
    chord(window)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "NODEFLOW_HOME": str(home)}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "worker", "--devices", "cpu", "--drain"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    qtbot.waitUntil(lambda: table_rows(window) == [["1", "wine.json", "done"]], timeout=10000)  # the tab's poll
    tab = window.runs.panel.queue
    tab.table.selectRow(0)
    click(tab.buttons["open"])
    runs = window.runs.panel.runs
    assert window.runs.panel.tabs.currentWidget() is runs
    queue = Queue(home / "queue" / "queue.db")
    recorded = queue.get(1).run_ids
    queue.close()
    assert [r["id"] for r in runs.selected()] == recorded and len(recorded) == 1
