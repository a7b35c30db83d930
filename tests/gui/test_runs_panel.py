"""The Runs tab: two real runs, selected together, show overlaid curves and what differs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from tests.conftest import run_cli
from tests.gui.conftest import small_workflow


def test_two_runs_side_by_side(qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    workflow = small_workflow(tmp_path, epochs=2, checkpoint_dir="ck/{run}")
    for lr in ("0.001", "0.02"):
        assert run_cli("run", str(workflow), "--set", f"Trainer.lr={lr}", cwd=tmp_path).returncode == 0
    window = make_window(workflow)
    panel = window.runs.panel
    panel.tabs.setCurrentWidget(panel.runs)
    table = panel.runs.table
    assert table.rowCount() == 2 and {table.item(r, 1).text() for r in range(2)} == {"completed"}
    table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.MultiSelection)
    table.selectRow(0)
    table.selectRow(1)
    diff = panel.runs.diff
    rows = {diff.item(r, 0).text(): [diff.item(r, c).text() for c in (1, 2)] for r in range(diff.rowCount())}
    assert sorted(rows["Trainer.lr"]) == ["0.0010", "0.0200"]
    assert "Trainer.epochs" not in rows  # the same in both runs: only differences are listed
    assert rows["Evaluate.accuracy"][0] != "-" and rows["Evaluate.accuracy"][1] != "-"
    loss = panel.runs.axes["loss"]
    assert len(loss.lines) == 4 and all(len(line.get_xdata()) == 2 for line in loss.lines)  # 2 runs x train/val
