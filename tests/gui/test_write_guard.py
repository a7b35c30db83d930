"""The editor asks before a run would meet another run's files or a file NodeFlow did not write."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from nodeflow.gui import editing
from tests.gui.conftest import answer_modal, node, small_workflow
from tests.gui.test_running import run_and_wait
from tests.reliability.test_nothing_lost import snapshot


def choose(text: str) -> Any:
    def act(box: QtWidgets.QMessageBox) -> None:
        assert box.objectName() in ("folder_in_use", "replace_output"), box.objectName()
        next(b for b in box.buttons() if b.text().replace("&", "").startswith(text)).click()
    return act


def first_run(qtbot: Any, make_window: Any, tmp_path: Path) -> Any:
    """A finished run in ck, then an lr edit: the next Run trains (an unchanged Trainer is reused)."""
    window = make_window(small_workflow(tmp_path, epochs=1))
    assert run_and_wait(qtbot, window)[0] == 0
    editing.set_params(window.graph, node(window, "Trainer"), {"lr": 0.002})
    return window


def test_a_second_run_offers_a_new_folder_and_leaves_the_first_alone(qtbot: Any, make_window: Any,
                                                                     tmp_path: Path) -> None:
    window = first_run(qtbot, make_window, tmp_path)
    before = snapshot(tmp_path / "ck")
    with answer_modal(qtbot, choose("New folder (ck_2)")):
        code, _ = run_and_wait(qtbot, window)
    assert code == 0
    assert (tmp_path / "ck_2" / "final_model.pt").is_file() and snapshot(tmp_path / "ck") == before
    assert node(window, "Trainer").get_property("nf_param_checkpoint_dir") == "ck"  # for that run only


def test_replace_moves_the_first_run_to_previous_and_cancel_starts_nothing(qtbot: Any, make_window: Any,
                                                                           tmp_path: Path) -> None:
    window = first_run(qtbot, make_window, tmp_path)
    before = snapshot(tmp_path / "ck")
    run_id = json.loads((tmp_path / "ck" / "manifest.json").read_text())["run"]["id"]
    with answer_modal(qtbot, choose("Cancel")):
        window.runs.panel.run_button.click()
    qtbot.waitUntil(lambda: window.runs.panel.status.text() == "Not started")
    assert not window.runs.process.running() and snapshot(tmp_path / "ck") == before

    with answer_modal(qtbot, choose("Replace")):
        code, _ = run_and_wait(qtbot, window)
    assert code == 0
    assert snapshot(tmp_path / "ck" / "previous" / run_id) == before
    assert json.loads((tmp_path / "ck" / "manifest.json").read_text())["run"]["id"] != run_id
    assert node(window, "Trainer").get_property("nf_param_overwrite") is False  # for that run only


def test_predict_onto_a_users_file_asks_first(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    workflow = tmp_path / "wine.json"
    doc = json.loads((Path(__file__).parents[2] / "workflows" / "wine_mlp.json").read_text())
    doc["nodes"]["trainer"]["params"].update({"epochs": 1, "checkpoint_dir": "ck"})
    doc["nodes"]["predict"]["params"]["path"] = "notes.txt"
    workflow.write_text(json.dumps(doc))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wine.csv").write_text((Path(__file__).parents[2] / "workflows" / "data" /
                                                 "wine.csv").read_text())
    (tmp_path / "notes.txt").write_text("precious")
    window = make_window(workflow)
    with answer_modal(qtbot, choose("Cancel")):
        window.runs.panel.run_button.click()
    qtbot.waitUntil(lambda: window.runs.panel.status.text() == "Not started")
    assert (tmp_path / "notes.txt").read_text() == "precious" and not (tmp_path / "ck").exists()

    with answer_modal(qtbot, choose("Yes")):
        code, _ = run_and_wait(qtbot, window)
    assert code == 0 and (tmp_path / "notes.txt").read_text().startswith("index,")


def test_the_trainer_dialog_stays_usable_after_a_run_into_its_folder(qtbot: Any, make_window: Any,
                                                                     tmp_path: Path) -> None:
    window = first_run(qtbot, make_window, tmp_path)
    dialog = editing.edit_dialog(window.graph, node(window, "Trainer"), window.dirs(), window)
    dialog.field("epochs").setValue(5)
    assert dialog.ok_button.isEnabled()  # the used folder is asked about at Run, not refused here
    assert not window.runs.validate()  # while Validate names it, as `nodeflow validate` would
    assert "already holds run" in window.runs.panel.issues.item(0).text()
    dialog.reject()
