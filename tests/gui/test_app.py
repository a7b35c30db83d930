"""`python main.py`: the editor, its offscreen screenshot, the headless fallback without a display,
and the pieces derived from the declarations (tooltips, port colours, Tab search)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtTest

from nodeflow.gui.graph import PORT_COLOURS
from nodeflow.gui.placement import rect_of
from tests.conftest import ROOT, WORKFLOWS
from tests.gui.conftest import node, small_workflow


def main_py(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_screenshot_renders_the_editor_offscreen_to_a_png(tmp_path: Path) -> None:
    out = tmp_path / "editor.png"
    done = main_py("--screenshot", str(out), str(WORKFLOWS / "wine_mlp.json"), cwd=tmp_path,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    image = QtGui.QImage(str(out))
    assert (image.width(), image.height()) == (1440, 900)
    assert len({image.pixel(x, y) for x in range(0, 1440, 37) for y in range(0, 900, 29)}) > 20  # not blank


def test_screenshot_of_a_broken_file_says_why_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    done = main_py("--screenshot", str(tmp_path / "x.png"), str(bad), cwd=tmp_path,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "bad.json" in done.stderr and "not a workflow" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_display_the_workflow_runs_headless(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = main_py(str(small_workflow(tmp_path, epochs=1)), cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "No display found" in done.stderr and "Epoch [1/1]" in done.stdout
    assert (tmp_path / "ck" / "final_model.pt").is_file()


def test_when_qt_cannot_start_one_line_says_why_and_the_workflow_runs_headless(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(DISPLAY=":987", QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))  # no X server answers there
    done = main_py(str(small_workflow(tmp_path, epochs=1)), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "Qt" in line]
    assert line.startswith("Qt cannot") and line.endswith("headless instead.")
    assert "could not load the qt platform plugin" not in done.stderr.lower() and "Epoch [1/1]" in done.stdout
    assert (tmp_path / "ck" / "final_model.pt").is_file()


def test_nodes_carry_help_tooltips_and_ports_are_coloured_by_type(make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    trainer = node(window, "Trainer")
    assert "Trainer" in trainer.view.toolTip()
    val = trainer.get_input("val")
    assert "dataset" in val.view.toolTip() and "optional" in val.view.toolTip()
    assert tuple(val.color[:3]) == PORT_COLOURS["dataset"]
    assert tuple(trainer.get_output("model").color[:3]) == PORT_COLOURS["model"]


def test_tab_then_search_adds_the_node_at_the_cursor_with_an_id_and_a_plain_name(qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    viewer = window.graph.viewer()
    spot = QtCore.QPoint(40, 40)
    QtGui.QCursor.setPos(viewer.viewport().mapToGlobal(spot))
    viewer.setFocus()
    QtTest.QTest.keyClick(viewer, QtCore.Qt.Key.Key_Tab)
    assert window.add_pos is not None and window.palette.search.hasFocus()
    QtTest.QTest.keyClicks(window.palette.search, "trainer")
    QtTest.QTest.keyClick(window.palette.search, QtCore.Qt.Key.Key_Return)
    added = node(window, "Trainer2")
    assert added.get_property("nf_id") == "trainer_2"
    expected = viewer.mapToScene(viewer.viewport().mapFromGlobal(QtGui.QCursor.pos()))
    # at the cursor, or straight below it where the cursor's spot is taken: never on another node
    assert abs(added.pos()[0] - expected.x()) < 2 and added.pos()[1] > expected.y() - 2
    assert not any(rect_of(added).intersects(rect_of(n)) for n in window.graph.all_nodes() if n is not added)
    assert len(window.workflow().nodes) == 6


def test_devices_lists_what_the_picker_offers(tmp_path: Path, qtbot: Any, make_window: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Child Pythons here see 8 cores, so `nodeflow devices` offers a 2-process CPU run on top of auto
    # and cpu on any machine: a list that only reaches the picker when the editor passes it on.
    (tmp_path / "cores").mkdir()
    (tmp_path / "cores" / "sitecustomize.py").write_text("import os\nos.cpu_count = lambda: 8\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "cores"))
    done = main_py("devices", cwd=tmp_path, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path / 'cores'}"})
    found = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0 and [d["device"] for d in found[:2]] == ["auto", "cpu"]
    assert "ddp:2:cpu" in [d["device"] for d in found]
    window = make_window()
    picker = window.runs.panel.device
    qtbot.waitUntil(lambda: picker.count() == len(found), timeout=60000)
    offered = [(picker.itemData(i), picker.itemText(i)) for i in range(picker.count())]
    assert [data for data, _ in offered] == ["", "cpu", *(d["device"] for d in found[2:])]
    assert [text for _, text in offered[2:]] == [d["label"] for d in found[2:]]
