"""Results on the nodes after a run: Evaluate's headline metrics, the Trainer's best and last values and
folder; selecting Evaluate shows its full table and confusion matrix; an edit clears them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from nodeflow.gui import editing
from tests.gui.conftest import click, node, small_workflow
from tests.gui.test_running import run_and_wait


def test_results_show_on_the_nodes_and_in_the_panel_until_an_edit(qtbot: Any, make_window: Any,
                                                                   tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=2))
    assert run_and_wait(qtbot, window)[0] == 0, window.runs.panel.console.toPlainText()
    evaluate, trainer = window.runs.results.text_of("Evaluate"), window.runs.results.text_of("Trainer")
    assert evaluate.startswith("accuracy ") and "%" in evaluate and "loss " in evaluate
    assert "best val_loss" in trainer and "(epoch " in trainer and "last val_loss" in trainer and "→ ck" in trainer
    click(window, node(window, "Evaluate"))
    box = window.properties.findChild(QtWidgets.QGroupBox, "properties_result")
    assert box is not None and window.properties.findChild(QtWidgets.QLabel, "confusion_matrix") is not None
    labels = [w.text() for w in box.findChildren(QtWidgets.QLabel)]
    assert "accuracy" in labels and "top5 accuracy" in labels
    editing.set_params(window.graph, node(window, "Trainer"), {"lr": 0.01})
    assert window.runs.results.text_of("Evaluate") == ""  # an edit makes them stale: they go
