"""The Runs tab: the open workflow's runs by default, every run with "All runs", with folder and
workflow columns; two real runs, selected together, show overlaid curves and what differs."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtTest, QtWidgets

from nodeflow.gui.runs_panel import RunsPanel, folder_text
from tests.conftest import run_cli
from tests.gui.conftest import LEFT, small_workflow

CTRL = QtCore.Qt.KeyboardModifier.ControlModifier


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A run index of its own: two runs of one/small.json (lr 0.001, 0.02), one of two/small.json."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NODEFLOW_HOME", str(root / "home"))
        made = {}
        for name, lrs in (("one", ("0.001", "0.02")), ("two", ("0.001",))):
            (root / name).mkdir()
            made[name] = small_workflow(root / name, epochs=2, checkpoint_dir="ck/{run}")
            for lr in lrs:
                done = run_cli("run", str(made[name]), "--set", f"Trainer.lr={lr}", cwd=root / name)
                assert done.returncode == 0, done.stderr
    return {**made, "home": root / "home"}


@pytest.fixture
def panel(recorded: dict[str, Path], qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunsPanel]:
    monkeypatch.setenv("NODEFLOW_HOME", str(recorded["home"]))
    widget = RunsPanel()
    qtbot.addWidget(widget)
    widget.resize(1200, 400)
    widget.show()
    yield widget


def where(workflow: Path) -> str:
    return folder_text(workflow.resolve().parent)


def column(panel: RunsPanel, name: str) -> list[str]:
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    return [panel.table.item(r, headers.index(name)).text() for r in range(panel.table.rowCount())]


def click_row(panel: RunsPanel, row: int, modifier: QtCore.Qt.KeyboardModifier = QtCore.Qt.KeyboardModifier.NoModifier
              ) -> None:
    rect = panel.table.visualRect(panel.table.model().index(row, 0))
    QtTest.QTest.mouseClick(panel.table.viewport(), LEFT, modifier, rect.center())


def test_the_open_workflows_runs_by_default_and_every_run_with_all_runs(panel: RunsPanel,
                                                                         recorded: dict[str, Path]) -> None:
    one, two = recorded["one"], recorded["two"]
    panel.set_workflow(one)
    assert len(column(panel, "run")) == 2 and set(column(panel, "folder")) == {where(one)}
    assert set(column(panel, "workflow")) == {"small.json"}  # same name, other folder: not listed
    assert panel.note.text() == "small.json: 2 of 3 run(s)"
    all_runs = panel.findChild(QtWidgets.QCheckBox, "runs_all")
    QtTest.QTest.mouseClick(all_runs, LEFT)
    assert sorted(column(panel, "folder")) == sorted([where(one)] * 2 + [where(two)])
    QtTest.QTest.mouseClick(all_runs, LEFT)
    panel.set_workflow(two)  # the window opened another file
    assert column(panel, "folder") == [where(two)] and column(panel, "status") == ["completed"]
    panel.set_workflow(None)  # File > New: nothing saved, so no runs of its own
    assert panel.table.rowCount() == 0 and "not saved" in panel.note.text()


def test_two_runs_side_by_side(panel: RunsPanel, recorded: dict[str, Path]) -> None:
    panel.set_workflow(recorded["one"])
    click_row(panel, 0)
    click_row(panel, 1, CTRL)
    diff = panel.diff
    rows = {diff.item(r, 0).text(): [diff.item(r, c).text() for c in (1, 2)] for r in range(diff.rowCount())}
    assert sorted(rows["Trainer.lr"]) == ["0.0010", "0.0200"]
    assert "Trainer.epochs" not in rows  # the same in both runs: only differences are listed
    assert rows["Evaluate.accuracy"][0] != "-" and rows["Evaluate.accuracy"][1] != "-"
    loss = panel.axes["loss"]
    assert len(loss.lines) == 4 and all(len(line.get_xdata()) == 2 for line in loss.lines)  # 2 runs x train/val
    panel.canvas.draw()
    legend, = panel.figure.legends  # one legend names the runs for every panel, beside them, over no line
    named = [text.get_text() for text in legend.get_texts()]
    assert {r["id"][-4:] + " Trainer" for r in panel.selected()} <= set(named) and {"train", "val"} <= set(named)
    box = legend.get_window_extent()
    for axes in (panel.step_axes, *panel.axes.values()):
        assert axes.get_legend() is None and not box.overlaps(axes.get_window_extent()), axes.get_title()
    chosen = {r["id"] for r in panel.selected()}
    panel.findChild(QtWidgets.QPushButton, "runs_refresh").click()
    assert {r["id"] for r in panel.selected()} == chosen  # a refresh keeps the selection on the same runs


def test_the_window_tells_the_runs_tab_which_file_is_open(recorded: dict[str, Path], make_window: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODEFLOW_HOME", str(recorded["home"]))
    window = make_window(recorded["one"])
    panel = window.runs.panel
    panel.tabs.setCurrentWidget(panel.runs)
    assert column(panel.runs, "folder") == [where(recorded["one"])] * 2
    assert window.open_path(recorded["two"])
    assert column(panel.runs, "folder") == [where(recorded["two"])]


def test_a_resumed_run_plots_its_epochs_by_their_numbers(tmp_path: Path, qtbot: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A run continued after epoch 1 of 3 trained epochs 2 and 3: its curves stand there, not at 1 and 2."""
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    workflow = small_workflow(tmp_path, epochs=1, checkpoint_dir="ck")
    assert run_cli("run", str(workflow), cwd=tmp_path).returncode == 0
    done = run_cli("run", str(workflow), "--set", "Trainer.epochs=3", "--resume", "auto", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    widget = RunsPanel()
    qtbot.addWidget(widget)
    widget.resize(1200, 400)
    widget.show()
    widget.set_workflow(workflow)
    click_row(widget, 0)  # the newest run first: the resumed one
    assert [list(line.get_xdata()) for line in widget.axes["loss"].lines] == [[2, 3], [2, 3]]
    folder_run = json.loads((tmp_path / "ck" / "manifest.json").read_text())["run"]["id"]
    assert column(widget, "run")[1] == folder_run  # what a used-folder prompt names is the row the run has here
