"""What the canvas shows after a Check or a run is right and readable: the model's parameter count
comes from the built model, results and labels get their own space, Generate shows the text it
wrote, pictures fit, and the checkpoint folder on the Trainer shows its meaningful parts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtTest, QtWidgets

from nodeflow.gui.graph import params_of
from tests.conftest import WORKFLOWS
from tests.gui.conftest import LEFT, node

WAIT_MS = 180_000
NONE = QtCore.Qt.KeyboardModifier.NoModifier


def press_and_wait(qtbot: Any, window: Any, button: QtWidgets.QPushButton) -> None:
    with qtbot.waitSignal(window.runs.process.ended, timeout=WAIT_MS) as ended:
        QtTest.QTest.mouseClick(button, LEFT)
    assert ended.args[0] == 0, window.runs.panel.console.toPlainText()


def drawn(item: QtWidgets.QGraphicsItem) -> QtCore.QRectF:
    """Where an item and everything drawn in it lie on the canvas."""
    return item.mapRectToScene(item.boundingRect() | item.childrenBoundingRect())


def taken(window: Any, but: str = "") -> list[tuple[str, QtCore.QRectF]]:
    """What is drawn on the canvas: each node with its badge band, each result block, each link chip."""
    found = []
    for n in window.graph.all_nodes():
        if n.name() != but:
            found.append((f"node {n.name()}", n.view.sceneBoundingRect().adjusted(0, -20, 0, 0)))
    found += [(f"result {name}", drawn(item)) for name, item in window.runs.results.items.items() if name != but]
    found += [(f"chip {item.data(0)}", item.sceneBoundingRect()) for item in window.runs.labels.items]
    return found


def covered(window: Any) -> list[tuple[str, str]]:
    """Result blocks that cover a node (its badge included), another result or a link chip."""
    pairs = []
    for name, item in window.runs.results.items.items():
        rect = drawn(item)
        pairs += [(name, what) for what, other in taken(window, but=name) if rect.intersects(other)]
    return pairs


def test_check_counts_every_parameter_of_a_transformer_and_its_line_covers_nothing(
        qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "shakespeare_gpt.json")
    press_and_wait(qtbot, window, window.runs.panel.check_button)
    assert "804,224 parameters" in window.runs.results.text_of("GPT")  # the built model's count
    assert covered(window) == []
    window.undo.setClean()
    assert window.open_path(WORKFLOWS / "sentiment_bert.json")
    press_and_wait(qtbot, window, window.runs.panel.check_button)
    assert "121,090 parameters" in window.runs.results.text_of("BERT")
    assert covered(window) == []  # the layer line and the chip on BERT's link each have their own space


def tiny_gpt(tmp_path: Path) -> Path:
    """The Shakespeare example at toy size, on a few lines of text: trains in seconds."""
    doc = json.loads((WORKFLOWS / "shakespeare_gpt.json").read_text())
    (tmp_path / "play.txt").write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 40)
    nodes = doc["nodes"]
    nodes["text"]["params"].update(path="play.txt", block_size=16)
    nodes["gpt"]["params"].update(n_layer=1, n_head=2, n_embd=16)
    nodes["trainer"]["params"].update(max_iters=8, batch_size=8, checkpoint_dir="", scheduler="none",
                                      generation_samples=0)
    nodes["generate"]["params"].update(max_new_tokens=60)
    path = tmp_path / "tiny_gpt.json"
    path.write_text(json.dumps(doc))
    return path


def test_after_a_run_results_have_their_own_space_and_generate_shows_what_it_wrote(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(tiny_gpt(tmp_path))
    press_and_wait(qtbot, window, window.runs.panel.run_button)
    assert covered(window) == []  # Evaluate's lines leave Generate's badge readable
    shown = window.runs.results.text_of("Generate")
    written = window.runs.panel.samples.toPlainText().split("Generate wrote:", 1)[1].strip()
    assert written.startswith("ROMEO:") and len(written) > 40
    generated = "".join(written[len("ROMEO:"):].split())[:60]
    assert generated in "".join(shown.split())  # the preview holds what was generated, not only the prompt
    assert window.runs.results.text_of("Evaluate").startswith("loss ")


def test_the_overlay_picture_fits_and_the_results_leave_the_badges_readable(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    doc = json.loads((WORKFLOWS / "phantom_unet.json").read_text())
    doc["nodes"]["scans"]["params"].update(samples=40, image_size=32)
    doc["nodes"]["model"]["params"].update(channels=[4, 8], res_units=1)
    doc["nodes"]["trainer"]["params"].update(epochs=1, checkpoint_dir="")
    doc["nodes"]["overlay"]["params"].update(folder="overlays", count=2)
    path = tmp_path / "phantoms.json"
    path.write_text(json.dumps(doc))
    window = make_window(path)
    press_and_wait(qtbot, window, window.runs.panel.run_button)
    block = window.runs.results.items["SegmentationOverlay"]
    pictures = [i for i in block.childItems() if isinstance(i, QtWidgets.QGraphicsPixmapItem)]
    assert len(pictures) == 1
    size = pictures[0].pixmap().size()
    assert size.width() <= 240 and size.height() <= 120  # scaled to fit its space beside the other nodes
    original = QtGui.QImage(window.runs.results.by_node["SegmentationOverlay"]["image"]).size()
    assert abs(size.width() / size.height() - original.width() / original.height()) < 0.05  # whole, not squashed
    assert covered(window) == []


def test_the_checkpoint_folder_on_the_trainer_shows_its_start_and_its_end(make_window: Any) -> None:
    window = make_window(WORKFLOWS / "shakespeare_gpt.json")
    window.activateWindow()
    QtTest.QTest.qWaitForWindowActive(window)
    trainer = node(window, "Trainer")
    field = trainer.view.widgets["nf_param_checkpoint_dir"]
    line = field.line
    full = "checkpoints/shakespeare_gpt/{run}"
    shown = line.displayed()
    fits = line.fontMetrics().horizontalAdvance(shown) <= line.contentsRect().width() - 4
    assert line.text() == full and shown != full and fits  # too long for the field: painted shortened
    assert shown.startswith("check") and shown.endswith("{run}") and "…" in shown
    viewer = window.graph.viewer()
    QtTest.QTest.mouseClick(viewer.viewport(), LEFT, NONE,
                            viewer.mapFromScene(field.sceneBoundingRect().center() + QtCore.QPointF(0, 6)))
    assert line.hasFocus() and line.displayed() == full  # editing shows (and edits) the whole value
    QtTest.QTest.mouseClick(viewer.viewport(), LEFT, NONE, QtCore.QPoint(5, 5))  # click away: nothing changed
    assert not line.hasFocus() and "…" in line.displayed()
    assert params_of(trainer)["checkpoint_dir"] == full and not window.isWindowModified()
    assert window.runs.validate()  # the shortened picture is no value typed and left unapplied
