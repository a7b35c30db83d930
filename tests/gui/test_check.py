"""Check (a dry run from the editor): labels on every link, an ETA, nothing written."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nodeflow.gui.badges import badge_of
from tests.gui.conftest import node, small_workflow

WAIT_MS = 120_000


def test_check_labels_every_link_and_gives_an_eta_without_writing(qtbot: Any, make_window: Any,
                                                                  tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=12))
    panel = window.runs.panel
    with qtbot.waitSignal(window.runs.process.ended, timeout=WAIT_MS) as ended:
        panel.check_button.click()
    assert ended.args[0] == 0, panel.console.toPlainText()
    texts = window.runs.labels.texts()
    assert len(texts) == len(window.workflow().links) == 7
    assert "1797 × [1, 8, 8] float32 → 10 classes (classification)" in texts  # Digits -> Split
    assert "model.cnn: 53,194 parameters, 208 KiB" in texts  # CNN -> Trainer
    assert window.runs.labels.overlaps() == []  # chips sit where they cover no other chip, node or badge
    status = panel.status.text()
    assert status.startswith("Check passed.") and "per epoch" in status and "for 12 epochs" in status
    assert badge_of(node(window, "Trainer")) == "checked"  # checked, not done: nothing was trained
    console = panel.console.toPlainText()
    assert "Evaluate: accuracy" not in console  # a few steps' scores are no result
    assert "Conv2d" in console and "output shape" in console  # the model's per-layer table
    layers = window.runs.results.by_node["CNN"]["layers"]
    assert layers[0]["output"] and sum(r["parameters"] for r in layers if "." not in r["layer"]) == 53194
    assert not (tmp_path / "ck").exists()
    window.runs.validate()
    assert window.runs.labels.texts() == []  # labels describe one Check; the next action clears them
