"""The Checkpoints panel: finds the selected Trainer's checkpoints and manages them through `nodeflow ckpt`."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from PySide6 import QtWidgets

from nodeflow.gui.graph import params_of
from tests.conftest import build_once, run_cli
from tests.gui.conftest import answer_modal, click, names, node, small_workflow

WAIT_MS = 60000


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a workflow and the checkpoints a headless 3-epoch run wrote into ck/."""
    def build(folder: Path) -> None:
        done = run_cli("run", str(small_workflow(folder)), cwd=folder)
        assert done.returncode == 0, done.stderr

    return build_once(tmp_path_factory, "checkpoints_panel", build)


@pytest.fixture
def panel_window(trained: Path, tmp_path: Path, make_window: Any, qtbot: Any) -> Any:
    shutil.copytree(trained / "ck", tmp_path / "ck")
    shutil.copy(trained / "small.json", tmp_path / "small.json")
    window = make_window(tmp_path / "small.json")
    window.runs.panel.tabs.setCurrentWidget(window.runs.panel.checkpoints)
    click(window, node(window, "Trainer"))
    qtbot.waitUntil(lambda: window.runs.panel.checkpoints.table.rowCount() == 5, timeout=WAIT_MS)
    return window


def cell(panel: Any, file: str, column: str) -> str:
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    row = next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 0).text() == file)
    return panel.table.item(row, headers.index(column)).text()


def select(panel: Any, *files: str) -> None:
    panel.table.clearSelection()
    mode = panel.table.selectionMode()
    panel.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.MultiSelection)
    for r in range(panel.table.rowCount()):
        if panel.table.item(r, 0).text() in files:
            panel.table.selectRow(r)
    panel.table.setSelectionMode(mode)


def wait_console(qtbot: Any, window: Any, text: str) -> None:
    qtbot.waitUntil(lambda: text in window.runs.panel.console.toPlainText(), timeout=WAIT_MS)


def compared(qtbot: Any, window: Any, first: str, second: str) -> str:
    """Compare two checkpoints with the button; what the console says about their weights (yes/no)."""
    panel = window.runs.panel.checkpoints
    select(panel, first, second)
    panel.buttons["compare"].click()
    heading = f"{second} vs {first}:"

    def answer() -> str | None:
        text = window.runs.panel.console.toPlainText()
        found = re.search(r"bitwise equal: (\S+)", text.split(heading, 1)[1]) if heading in text else None
        return found.group(1) if found else None

    qtbot.waitUntil(lambda: answer() is not None, timeout=WAIT_MS)
    return answer() or ""


def rows_shown(table: QtWidgets.QTableWidget) -> float:
    return table.viewport().height() / table.verticalHeader().defaultSectionSize()


def test_lists_the_trainers_checkpoints_with_their_manifest_fields(panel_window: Any, tmp_path: Path) -> None:
    panel = panel_window.runs.panel.checkpoints
    assert panel.folder_label.text() == str(tmp_path / "ck")
    assert cell(panel, "best_model.pt", "best") == "✓" and cell(panel, "final_model.pt", "final") == "✓"
    assert cell(panel, "checkpoint_epoch_2.pt", "epoch") == "2"
    assert cell(panel, "checkpoint_epoch_2.pt", "monitored").startswith("val_loss=")
    assert all(cell(panel, f, "verified") == "✓" for f in ("checkpoint_epoch_1.pt", "final_model.pt"))


def test_verify_reports_a_flipped_byte_by_name(qtbot: Any, panel_window: Any, tmp_path: Path) -> None:
    panel = panel_window.runs.panel.checkpoints
    panel.buttons["verify"].click()
    wait_console(qtbot, panel_window, "5 of 5 checkpoint(s) verified")
    damaged = tmp_path / "ck" / "checkpoint_epoch_2.pt"
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    panel.buttons["refresh"].click()
    qtbot.waitUntil(lambda: cell(panel, "checkpoint_epoch_2.pt", "verified").startswith("✗"), timeout=WAIT_MS)
    panel.buttons["verify"].click()
    wait_console(qtbot, panel_window, "✗ checkpoint_epoch_2.pt")


def test_compare_delete_resume_and_inference(qtbot: Any, panel_window: Any, tmp_path: Path) -> None:
    panel = panel_window.runs.panel.checkpoints
    assert compared(qtbot, panel_window, "checkpoint_epoch_3.pt", "final_model.pt") == "yes"  # the same weights
    assert compared(qtbot, panel_window, "checkpoint_epoch_1.pt", "final_model.pt") == "no"

    select(panel, "checkpoint_epoch_1.pt")
    with answer_modal(qtbot, lambda box: box.button(QtWidgets.QMessageBox.StandardButton.Yes).click()):
        panel.buttons["delete"].click()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 4, timeout=WAIT_MS)
    assert not (tmp_path / "ck" / "checkpoint_epoch_1.pt").exists()
    assert "checkpoint_epoch_1.pt" not in json.loads((tmp_path / "ck" / "manifest.json").read_text())["checkpoints"]

    select(panel, "best_model.pt")
    panel.buttons["resume"].click()
    trainer = node(panel_window, "Trainer")
    assert params_of(trainer)["resume"] == str((tmp_path / "ck" / "best_model.pt").resolve())
    panel_window.undo.undo()
    assert params_of(trainer)["resume"] == ""

    panel.buttons["infer"].click()
    assert "LoadCheckpoint" in names(panel_window)
    loaded = params_of(node(panel_window, "LoadCheckpoint"))["path"]
    assert (tmp_path / loaded).resolve() == (tmp_path / "ck" / "best_model.pt").resolve()


def test_the_tables_show_six_rows_at_the_default_dock_size_and_at_1280x720(qtbot: Any, panel_window: Any) -> None:
    panel = panel_window.runs.panel.checkpoints
    assert rows_shown(panel.table) >= 6, rows_shown(panel.table)
    panel.views.setCurrentWidget(panel.library)
    qtbot.waitUntil(lambda: panel.library.table.isVisible())
    assert rows_shown(panel.library.table) >= 6, rows_shown(panel.library.table)
    panel_window.resize(1280, 720)
    qtbot.waitUntil(lambda: panel_window.size().toTuple() == (1280, 720))
    assert rows_shown(panel.library.table) >= 6
    panel.views.setCurrentWidget(panel.views.widget(0))
    qtbot.waitUntil(lambda: panel.table.isVisible())
    assert rows_shown(panel.table) >= 6 and panel_window.height() == 720


def test_curves_open_in_a_window(qtbot: Any, panel_window: Any) -> None:
    panel_window.runs.panel.checkpoints.buttons["curves"].click()
    qtbot.waitUntil(lambda: panel_window.findChild(QtWidgets.QDialog, "curves_dialog") is not None, timeout=WAIT_MS)
    pixmap = panel_window.findChild(QtWidgets.QDialog, "curves_dialog").findChild(QtWidgets.QLabel).pixmap()
    assert pixmap.width() > 300 and pixmap.height() > 200


class _RunsCode:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch PWNED",))


def test_a_malicious_checkpoint_is_refused_and_its_payload_never_runs(qtbot: Any, panel_window: Any,
                                                                     tmp_path: Path) -> None:
    torch.save({"model_state_dict": {}, "payload": _RunsCode()}, tmp_path / "ck" / "evil.pt")
    panel = panel_window.runs.panel.checkpoints
    panel.buttons["refresh"].click()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 6, timeout=WAIT_MS)
    assert cell(panel, "evil.pt", "verified").startswith("✗")
    select(panel, "evil.pt", "final_model.pt")
    panel.buttons["compare"].click()
    wait_console(qtbot, panel_window, "evil.pt: refused: the file contains pickled Python objects")
    select(panel, "evil.pt")
    panel.buttons["verify"].click()
    wait_console(qtbot, panel_window, "✗ evil.pt")
    assert not list(tmp_path.rglob("PWNED"))


def test_open_its_workflow_brings_back_the_graph_that_made_the_checkpoint(panel_window: Any, qtbot: Any,
                                                                          tmp_path: Path) -> None:
    window, panel = panel_window, panel_window.runs.panel.checkpoints
    (tmp_path / "small.json").unlink()  # the checkpoint alone brings the graph back
    node(window, "Trainer").set_property("nf_param_lr", 0.5)  # the canvas now differs from what was run
    window.undo.setClean()
    select(panel, "best_model.pt")
    panel.buttons["workflow"].click()
    qtbot.waitUntil(lambda: window.meta.path is None, timeout=WAIT_MS)
    params = params_of(node(window, "Trainer"))
    assert params["lr"] == 0.001
    assert params["checkpoint_dir"] == "ck" and names(window) == ["CNN", "Digits", "Evaluate", "Split", "Trainer"]


def test_tags_are_edited_in_a_dialog_checked_as_typed_and_the_summary_line_follows(qtbot: Any, panel_window: Any,
                                                                                      tmp_path: Path) -> None:
    from nodeflow.gui.tags_dialog import TagsDialog

    panel = panel_window.runs.panel.checkpoints
    summary = panel.summary_label.text()
    assert summary.startswith("5 checkpoint(s)") and "best best_model-" in summary and "latest final_model-" in summary
    seen: dict[str, Any] = {}

    def edit(dialog: QtWidgets.QWidget) -> None:
        assert isinstance(dialog, TagsDialog)
        ok = dialog.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        dialog.tags.setText("x" * 65)
        seen["refused"] = (ok.isEnabled(), dialog.error.text())
        QtWidgets.QApplication.processEvents()
        seen["error_left"] = (dialog.error.x(), dialog.layout().labelForField(dialog.tags).x())  # the full width
        dialog.tags.setText("best-so-far, keep")
        dialog.description.setText("before the LR change")
        ok.click()

    select(panel, "final_model.pt")
    with answer_modal(qtbot, edit):
        panel.buttons["tags"].click()
    assert seen["refused"][0] is False and "is not a tag" in seen["refused"][1]
    assert seen["error_left"][0] <= seen["error_left"][1]
    qtbot.waitUntil(lambda: cell(panel, "final_model.pt", "tags") == "best-so-far, keep", timeout=WAIT_MS)
    entry = json.loads((tmp_path / "ck" / "manifest.json").read_text())["checkpoints"]["final_model.pt"]
    assert entry["description"] == "before the LR change"
    folder = tmp_path / "ck"
    assert (folder / "backups" / "final_model.pt").read_bytes() == (folder / "final_model.pt").read_bytes()


def test_a_forged_manifest_is_refused_in_one_line_and_lists_nothing(make_window: Any, tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    (tmp_path / "victim.txt").write_text("keep me")
    (folder / "manifest.json").write_text(json.dumps({"format": "nodeflow.checkpoints", "version": 1, "run": {},
                                                      "checkpoints": {"../victim.txt": {"kind": "periodic"}}}))
    window = make_window()
    panel = window.runs.panel.checkpoints
    panel.set_folder(folder)
    panel.refresh()
    assert "refused" in panel.summary_label.text() and "../victim.txt" in panel.summary_label.text()
    assert panel.table.rowCount() == 0 and (tmp_path / "victim.txt").read_text() == "keep me"
