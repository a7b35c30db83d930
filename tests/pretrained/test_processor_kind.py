"""A processor of the wrong kind is refused before anything runs: a text node linked to an image
model's processor, or ImageFolder to a tokenizer, fails `nodeflow validate` in one line naming both
nodes and the field (exit 2), and the canvas refuses the link with the same reason."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import WORKFLOWS
from tests.gui.conftest import drag_link, make_window, node  # noqa: F401 (make_window: a fixture)
from tests.pretrained.runs import SHIPPED
from tests.reliability.test_fuzz_workflows import cli


def image_folder_and_bert(folder: Path, linked: bool = True) -> Path:
    """ImageFolder (one class of nothing yet) beside a Pretrained BERT, its processor linked to it."""
    (folder / "images" / "cat").mkdir(parents=True)
    nodes = {
        "images": {"type": "data.image_folder", "version": 1, "name": "Photos", "params": {"path": "images"}},
        "model": {"type": "model.pretrained", "version": 1, "name": "Bert",
                  "params": {"source": str(SHIPPED / "tiny_bert"), "task": "sequence-classification"}},
    }
    links = [{"from": {"node": "model", "port": "processor"}, "to": {"node": "images", "port": "processor"}}]
    doc = {"format": "nodeflow.workflow", "version": 1, "name": "photos", "nodes": nodes,
           "links": links if linked else []}
    path = folder / "photos.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def test_a_text_node_fed_an_image_processor_fails_validation(tiny_models: Path, tmp_path: Path) -> None:
    doc = json.loads((WORKFLOWS / "finetune_bert_reviews.json").read_text(encoding="utf-8"))
    doc["nodes"]["model"]["params"].update({"source": str(tiny_models / "vit"), "task": "image-classification",
                                            "num_labels": 2})
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = cli("validate", str(path), cwd=tmp_path)
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0] == (f"error: {path}: node 'Reviews' field 'processor': Pretrained.processor gives an image "
                        "processor; Reviews takes a tokenizer"), lines[0]


def test_image_folder_fed_a_tokenizer_fails_validation(tmp_path: Path) -> None:
    path = image_folder_and_bert(tmp_path)
    code, out, err = cli("validate", str(path), cwd=tmp_path)
    assert code == 2, out + err
    assert err.strip().splitlines() == [f"error: {path}: node 'Photos' field 'processor': Bert.processor gives a "
                                        "tokenizer; ImageFolder takes an image processor"], err


def test_the_canvas_refuses_a_tokenizer_for_image_folder(qtbot: Any, make_window: Any,  # noqa: F811
                                                        tmp_path: Path) -> None:
    window = make_window(image_folder_and_bert(tmp_path, linked=False))
    photos = node(window, "Photos")
    drag_link(window, node(window, "Bert").get_output("processor"), photos.get_input("processor"))
    assert photos.get_input("processor").connected_ports() == []
    assert "Link refused: Bert.processor gives a tokenizer; ImageFolder takes an image processor" in \
        window.runs.panel.console.toPlainText()
