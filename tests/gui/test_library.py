"""The Checkpoints panel's Library view: every checkpoint under a root, live, and "Use for inference"."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nodeflow.gui.graph import params_of
from nodeflow.gui.library_view import LibraryView
from tests.conftest import WORKFLOWS, run_cli
from tests.gui.conftest import click, node, small_workflow
from tests.training.test_library import custom_models_tree

WAIT_MS = 60000


def open_library(window: Any, qtbot: Any, rows: int) -> Any:
    panel = window.runs.panel
    panel.tabs.setCurrentWidget(panel.checkpoints)
    library = panel.checkpoints.library
    panel.checkpoints.views.setCurrentWidget(library)  # showing it scans
    qtbot.waitUntil(lambda: library.table.rowCount() == rows, timeout=WAIT_MS)
    return library


def row_of(library: Any, file: str) -> dict[str, str]:
    headers = [library.table.horizontalHeaderItem(c).text() for c in range(library.table.columnCount())]
    row = next(r for r in range(library.table.rowCount()) if library.table.item(r, 0).text() == file)
    return {h: library.table.item(row, c).text() for c, h in enumerate(headers)}


def test_library_shows_a_hand_written_custom_models_tree_and_new_files_without_restart(tmp_path: Path, make_window: Any,
                                                                                   qtbot: Any) -> None:
    root = tmp_path / "checkpoints"  # the default root: ./checkpoints of the folder the editor runs in
    root.mkdir()
    weights = custom_models_tree(root)
    window = make_window(WORKFLOWS / "wine_mlp.json")
    library = open_library(window, qtbot, 7)
    assert row_of(library, "custom_models/wine_net/weights.pth")["kind"] == "custom model"
    assert row_of(library, "experiments/exp1/model.pth")["kind"] == "experiment"
    assert row_of(library, "best_model.pth")["status"] == "unverified (no manifest)"
    assert row_of(library, "evil.pth")["status"].startswith("refused (pickled code)")
    assert not (tmp_path / "pwned").exists()
    torch.save({"model_state_dict": weights, "epoch": 30}, root / "custom_models" / "wine_net" / "weights_v3.pth")
    qtbot.waitUntil(lambda: library.table.rowCount() == 8, timeout=WAIT_MS)  # the watcher saw it
    assert row_of(library, "custom_models/wine_net/weights_v3.pth")["epoch"] == "30"
    (root / "winenet_v2.pth").unlink()
    qtbot.waitUntil(lambda: library.table.rowCount() == 7, timeout=WAIT_MS)

    library.root_edit.setText(str(tmp_path / "nowhere"))
    library.root_edit.editingFinished.emit()
    assert "does not exist" in library.note.text() and library.table.rowCount() == 0
    remembered = LibraryView(tmp_path, window.settings)  # the next editor starts from the same root
    assert remembered.root_edit.text() == str(tmp_path / "nowhere")
    remembered.deleteLater()


def test_use_for_inference_loads_a_bare_state_dict_into_the_selected_model(tmp_path: Path, make_window: Any,
                                                                          qtbot: Any) -> None:
    root = tmp_path / "checkpoints"
    root.mkdir()
    custom_models_tree(root)
    window = make_window(WORKFLOWS / "wine_mlp.json")
    library = open_library(window, qtbot, 7)
    mlp = node(window, "MLP")
    click(window, mlp)
    library.table.selectRow(next(r for r in range(library.table.rowCount())
                                 if library.table.item(r, 0).text() == "best_model.pth"))
    library.buttons["infer"].click()
    load = node(window, "LoadCheckpoint")
    assert Path(params_of(load)["path"]).name == "best_model.pth"
    assert [p.node() for p in load.get_input("model").connected_ports()] == [mlp]
    window.undo.undo()  # one undoable edit
    assert not [n for n in window.graph.all_nodes() if n.name() == "LoadCheckpoint"]
    library.table.selectRow(next(r for r in range(library.table.rowCount())
                                 if library.table.item(r, 0).text() == "evil.pth"))
    library.buttons["infer"].click()
    assert "refused (pickled code)" in window.runs.panel.console.toPlainText()
    assert not [n for n in window.graph.all_nodes() if n.name() == "LoadCheckpoint"]


def test_trainer_view_finds_a_named_experiments_checkpoints(tmp_path: Path, make_window: Any, qtbot: Any) -> None:
    workflow = small_workflow(tmp_path, layout="experiments", checkpoint_dir="experiments", experiment_name="exp")
    assert run_cli("run", str(workflow), cwd=tmp_path).returncode == 0
    window = make_window(workflow)
    panel = window.runs.panel.checkpoints
    window.runs.panel.tabs.setCurrentWidget(panel)
    click(window, node(window, "Trainer"))
    qtbot.waitUntil(lambda: panel.table.rowCount() >= 4, timeout=WAIT_MS)
    assert panel.folder == tmp_path / "experiments" / "exp" / "checkpoints"
    files = {panel.table.item(r, 0).text() for r in range(panel.table.rowCount())}
    assert {"epoch_0001.pt", "epoch_0003.pt", "latest.pt", "best.pt"} <= files
