"""Building a workflow on the canvas: palette, links made by dragging, refused links, validation marks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtTest

from nodeflow.gui.badges import badge_of, badge_text
from nodeflow.gui.graph import spec_of
from tests.conftest import WORKFLOWS
from tests.gui.conftest import drag_link, names, node

DIGITS_LINKS = [("Digits", "dataset", "Split", "dataset"), ("Split", "train", "CNN", "dataset"),
                ("CNN", "model", "Trainer", "model"), ("Split", "train", "Trainer", "train"),
                ("Split", "val", "Trainer", "val"), ("Trainer", "model", "Evaluate", "model"),
                ("Split", "test", "Evaluate", "dataset")]


def add_from_palette(qtbot: Any, window: Any, title: str, pos: tuple[int, int]) -> Any:
    """Type in the palette's search box, press Enter, then move the new node where we want it."""
    search = window.palette.search
    search.clear()
    QtTest.QTest.keyClicks(search, title)
    QtTest.QTest.keyClick(search, QtCore.Qt.Key.Key_Return)
    added = node(window, title)
    added.set_pos(*pos)
    return added


def test_digits_workflow_built_from_the_palette_validates_and_matches_the_example(qtbot: Any, make_window: Any,
                                                                                   tmp_path: Path) -> None:
    window = make_window()
    for i, title in enumerate(["Digits", "Split", "CNN", "Trainer", "Evaluate"]):
        add_from_palette(qtbot, window, title, (i * 300, (i % 2) * 160))
    assert names(window) == ["CNN", "Digits", "Evaluate", "Split", "Trainer"]
    window.graph.center_on(window.graph.all_nodes())
    window.graph.fit_to_selection()
    for src, out, dst, inp in DIGITS_LINKS:
        drag_link(window, node(window, src).get_output(out), node(window, dst).get_input(inp))
    made = window.workflow()
    by_id = {n.id: n.name for n in made.nodes.values()}
    assert sorted((by_id[k.src], k.src_port, by_id[k.dst], k.dst_port) for k in made.links) == sorted(DIGITS_LINKS)
    issues = window.runs.panel.issues
    assert window.runs.validate(), [issues.item(i).text() for i in range(issues.count())]
    example = json.loads((WORKFLOWS / "digits_cnn.json").read_text())
    assert {n.type for n in made.nodes.values()} == {n["type"] for n in example["nodes"].values()}
    assert window.modified() and window.isWindowModified()


def test_palette_search_filters_by_name_and_description(make_window: Any) -> None:
    window = make_window()
    window.palette.search.setText("residual network")
    assert [s.title for s in window.palette.visible_specs()] == ["ResNet"]
    window.palette.search.setText("")
    assert len(window.palette.visible_specs()) == len(window.registry.all())


def test_incompatible_link_is_refused_with_the_reason(qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    trainer, evaluate = node(window, "Trainer"), node(window, "Evaluate")
    evaluate.get_input("dataset").disconnect_from(node(window, "Split").get_output("test"))
    window.graph.clear_undo_stack()
    drag_link(window, trainer.get_output("history"), evaluate.get_input("dataset"))
    assert evaluate.get_input("dataset").connected_ports() == []
    assert window.undo.count() == 0  # nothing happened, so nothing to undo
    message = window.runs.panel.console.toPlainText()
    assert "Link refused: cannot connect history output 'Trainer.history' to dataset input 'Evaluate.dataset'" \
        in message
    drag_link(window, node(window, "Split").get_output("test"), evaluate.get_input("dataset"))
    assert [p.node().name() for p in evaluate.get_input("dataset").connected_ports()] == ["Split"]


def test_a_link_whose_task_the_model_cannot_take_is_refused_through_the_split(qtbot: Any, make_window: Any) -> None:
    """Phantoms (masks) through Split into an MLP: the canvas says why, as validation does."""
    window = make_window(WORKFLOWS / "digits_cnn.json")
    phantoms = add_from_palette(qtbot, window, "Phantoms", (-300, 300))
    split, cnn = node(window, "Split"), node(window, "CNN")
    split.get_input("dataset").disconnect_from(node(window, "Digits").get_output("dataset"))
    drag_link(window, phantoms.get_output("dataset"), split.get_input("dataset"))
    cnn.get_input("dataset").disconnect_from(split.get_output("train"))
    drag_link(window, split.get_output("train"), cnn.get_input("dataset"))
    assert cnn.get_input("dataset").connected_ports() == []
    assert ("Link refused: Split.train gives segmentation data; CNN takes classification, multilabel or "
            "regression data.") in window.runs.panel.console.toPlainText()


def test_a_file_with_an_incompatible_link_does_not_open_and_the_canvas_is_kept(make_window: Any,
                                                                            tmp_path: Path) -> None:
    doc = json.loads((WORKFLOWS / "digits_cnn.json").read_text())
    doc["links"].append({"from": {"node": "trainer", "port": "history"}, "to": {"node": "cnn", "port": "dataset"}})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    window = make_window(WORKFLOWS / "wine_mlp.json")
    before = names(window)
    assert not window.open_path(bad)
    assert names(window) == before
    text = window.banner.text.text()
    assert str(bad) in text and "node 'CNN' field 'dataset'" in text and "cannot connect history output" in text


def test_validate_lists_every_issue_and_marks_the_node(make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    evaluate = node(window, "Evaluate")
    evaluate.get_input("dataset").disconnect_from(node(window, "Split").get_output("test"))
    assert not window.runs.validate()
    issues = [window.runs.panel.issues.item(i).text() for i in range(window.runs.panel.issues.count())]
    assert any("node 'Evaluate' field 'dataset'" in i for i in issues), issues
    assert badge_of(evaluate) == "issue" and "dataset" in badge_text(evaluate)
    assert all(badge_of(n) == "idle" for n in window.graph.all_nodes() if spec_of(n) and n is not evaluate)


def test_dragging_a_palette_entry_onto_the_canvas_adds_that_node(make_window: Any) -> None:
    window = make_window()
    tree = window.palette.tree
    item = tree.findItems("ResNet", QtCore.Qt.MatchFlag.MatchExactly | QtCore.Qt.MatchFlag.MatchRecursive)[0]
    mime = tree.mimeData([item])  # what Qt hands the canvas on drop
    window.graph.viewer().data_dropped.emit(mime, QtCore.QPointF(120, 80))
    added = node(window, "ResNet")
    assert added.get_property("nf_id") == "resnet" and spec_of(added).type == "model.resnet"


def test_a_note_around_nodes_is_saved_in_the_layout_and_comes_back(make_window: Any, tmp_path: Path) -> None:
    from nodeflow.gui import editing

    copy = tmp_path / "noted.json"
    copy.write_text((WORKFLOWS / "digits_cnn.json").read_text())
    window = make_window(copy)
    node(window, "Digits").set_selected(True)
    node(window, "Split").set_selected(True)
    editing.add_backdrop(window.graph, "data preparation")
    assert window.save()
    saved = json.loads(copy.read_text())["layout"]["backdrops"]
    assert [b["text"] for b in saved] == ["data preparation"]
    reopened = make_window(copy)
    notes = [n for n in reopened.graph.all_nodes() if n.type_ == editing.BACKDROP]
    assert [n.get_property("backdrop_text") for n in notes] == ["data preparation"]
    assert window.runs.validate()  # the core ignores layout
