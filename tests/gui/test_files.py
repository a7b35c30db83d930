"""File menu and clipboard: exact round trip, unsaved-changes prompt, recent files, paste between windows,
and a file changed on disk while open."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtWidgets

from nodeflow.core import default_registry, load_workflow, plan
from nodeflow.gui.graph import params_of
from tests.conftest import WORKFLOWS
from tests.gui.conftest import answer_modal, names, node


@pytest.mark.parametrize("example", sorted(p.name for p in WORKFLOWS.glob("*.json")))
def test_saving_an_opened_example_writes_the_same_bytes(make_window: Any, tmp_path: Path, example: str) -> None:
    copy = tmp_path / example
    shutil.copy(WORKFLOWS / example, copy)
    window = make_window(copy)
    assert window.save()
    assert copy.read_bytes() == (WORKFLOWS / example).read_bytes()


def test_title_shows_file_and_modified_mark_and_the_prompt_guards_unsaved_edits(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    copy = tmp_path / "mine.json"
    shutil.copy(WORKFLOWS / "digits_cnn.json", copy)
    window = make_window(copy)
    assert window.windowTitle() == "mine.json[*] — NodeFlow" and not window.isWindowModified()
    node(window, "Trainer").set_property("nf_param_epochs", 3)
    assert window.isWindowModified()
    buttons = QtWidgets.QMessageBox.StandardButton
    with answer_modal(qtbot, lambda box: box.button(buttons.Cancel).click()):
        window.new()
    assert "Trainer" in names(window)  # cancelled: nothing lost
    with answer_modal(qtbot, lambda box: box.button(buttons.Save).click()):
        window.new()
    assert names(window) == [] and not window.isWindowModified()
    assert params_of_file(copy)["epochs"] == 3  # saved before the canvas was cleared


def params_of_file(path: Path) -> dict[str, Any]:
    return load_workflow(path).node_by_name("Trainer").params


def test_recent_files_and_examples_menu(make_window: Any, tmp_path: Path) -> None:
    window = make_window()
    examples = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File").actions()
    example_menu = next(a.menu() for a in examples if a.text() == "&Examples")
    titles = [a.text() for a in example_menu.actions()]
    assert titles == sorted(p.stem for p in WORKFLOWS.glob("*.json"))
    next(a for a in example_menu.actions() if a.text() == "wine_mlp").trigger()
    assert "Wine" in names(window)
    assert window.recent()[0] == str((WORKFLOWS / "wine_mlp.json").resolve())
    assert window.recent_menu.actions()[0].text() == str((WORKFLOWS / "wine_mlp.json").resolve())


def test_copy_paste_between_two_windows_through_the_clipboard(make_window: Any) -> None:
    source = make_window(WORKFLOWS / "digits_cnn.json")
    target = make_window(WORKFLOWS / "digits_cnn.json")
    node(source, "Trainer").set_property("nf_param_epochs", 4)
    source.graph.select_all()
    source.copy()
    clip = json.loads(QtWidgets.QApplication.clipboard().text())
    assert clip["format"] == "nodeflow.workflow" and len(clip["nodes"]) == 5
    target.paste()
    pasted = target.workflow()
    assert len(pasted.nodes) == 10 and len(pasted.links) == 14
    assert len({n.name for n in pasted.nodes.values()}) == 10  # pasted nodes got new names
    assert params_of(node(target, "Trainer2"))["epochs"] == 4
    linked = [(pasted.nodes[k.src].name, pasted.nodes[k.dst].name) for k in pasted.links]
    assert ("CNN2", "Trainer2") in linked and ("CNN", "Trainer") in linked
    target.undo.undo()
    assert len(target.workflow().nodes) == 5  # one paste = one undo step
    QtWidgets.QApplication.clipboard().setText("not a workflow")
    target.paste()
    assert len(target.workflow().nodes) == 5


def test_delete_and_auto_layout_are_undoable(make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    node(window, "Evaluate").set_selected(True)
    window.graph.clear_undo_stack()
    from nodeflow.gui import editing

    editing.delete_selection(window.graph)
    assert "Evaluate" not in names(window)
    window.undo.undo()
    assert "Evaluate" in names(window)
    assert plan(window.workflow(), default_registry())  # links came back too


def test_a_file_changed_on_disk_is_reported_and_can_be_reloaded(qtbot: Any, make_window: Any,
                                                              tmp_path: Path) -> None:
    copy = tmp_path / "watched.json"
    shutil.copy(WORKFLOWS / "digits_cnn.json", copy)
    window = make_window(copy)
    doc = json.loads(copy.read_text())
    doc["nodes"]["trainer"]["params"]["epochs"] = 2
    copy.write_text(json.dumps(doc, indent=2))
    qtbot.waitUntil(window.banner.isVisible, timeout=10000)
    assert "watched.json changed on disk" in window.banner.text.text()
    assert params_of(node(window, "Trainer"))["epochs"] == 20  # nothing replaced behind the user's back
    window.banner.findChild(QtWidgets.QPushButton, "banner_reload").click()
    assert params_of(node(window, "Trainer"))["epochs"] == 2
    assert window.save()  # our own save is not reported as an outside change
    qtbot.wait(300)
    assert not window.banner.isVisible()


def test_an_unreadable_file_is_reported_inline(make_window: Any, tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json")
    window = make_window()
    assert not window.open_path(bad)
    assert window.banner.isVisible() and "broken.json" in window.banner.text.text() and "not valid JSON" in \
        window.banner.text.text()
