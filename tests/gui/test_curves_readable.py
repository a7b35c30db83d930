"""The Curves tab reads right: a constant learning rate is a line, a run shorter than an epoch labels
its top axis as a share of it, the smoothed line follows the points, a continued run shows its
earlier part too, and another workflow's run does not keep the last one's axes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtTest, QtWidgets

from nodeflow.runs import RunRecorder
from tests.gui.conftest import LEFT, answer_modal, small_workflow
from tests.gui.test_node_fields import type_on_node
from tests.gui.test_running import run_and_wait

NONE = QtCore.Qt.KeyboardModifier.NoModifier


def show_curves(panel: Any) -> None:
    """Click the Curves tab, as a user turns to it."""
    bar = panel.tabs.tabBar()
    QtTest.QTest.mouseClick(bar, LEFT, NONE, bar.tabRect(panel.tabs.indexOf(panel.curves)).center())


def green_pixels(curves: Any) -> int:
    """Pixels of the learning-rate line's colour inside the learning-rate panel, as painted."""
    image = curves.view.viewport().grab().toImage()
    box = curves.view.mapFromScene(curves.lr.vb.sceneBoundingRect()).boundingRect()

    def green(x: int, y: int) -> bool:
        red, grn, blue, _ = QtGui.QColor(image.pixel(x, y)).getRgb()
        return grn > red + 60 and grn > blue + 60

    return sum(green(x, y) for x in range(box.left(), box.right()) for y in range(box.top(), box.bottom()))


def test_an_iteration_run_draws_its_constant_rate_and_labels_its_share_of_an_epoch(
        qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    window = make_window(small_workflow(tmp_path, epochs=1, max_iters=600, batch_size=2, checkpoint_dir=""))
    window.resize(1280, 720)
    panel = window.runs.panel
    assert run_and_wait(qtbot, window) == (0, "Run completed."), panel.console.toPlainText()
    show_curves(panel)
    curves = panel.curves
    qtbot.waitUntil(lambda: curves.raw.getData()[0] is not None and len(curves.raw.getData()[0]) >= 3)
    rates = curves.lr_line.getData()[1]
    assert set(rates) == {0.001}  # the digits Trainer's constant rate
    def spans_the_rate() -> bool:  # the panel's range is the rate's, not ±0.5 around it
        low, high = curves.lr.viewRange()[1]
        return low <= 0.001 <= high and high - low < 0.01

    qtbot.waitUntil(spans_the_rate)
    assert green_pixels(curves) > 50  # and the line is painted
    axis = curves.top_axis
    shown = [text for _, values in axis.tickValues(*curves.loss.viewRange()[0], 600)
             for text in axis.tickStrings(values, 1.0, 1.0)]
    assert shown and all(text.endswith("%") for text in shown), shown  # 600 of 719 steps: "20%", not "0.2"
    assert "first epoch" in axis.labelText
    average, expected = 0.0, []  # TensorBoard's smoothing: a debiased moving average, its default weight 0.6
    for count, (_, loss) in enumerate(curves.step_points(), 1):
        average = 0.6 * average + 0.4 * loss
        expected.append(average / (1 - 0.6 ** count))
    assert np.allclose(curves.smoothed.y, expected)


def record_elsewhere(folder: Path, step: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished run of another workflow in another folder whose Trainer also wrote to a folder typed "ck"."""
    folder.mkdir()
    with monkeypatch.context() as here:
        here.chdir(folder)
        recorder = RunRecorder(lambda event: None, {"workflow": str(folder / "other.json")})
        for event in ({"event": "run_start", "time": 0.0},
                      {"event": "fit_start", "node": "Trainer", "checkpoint_dir": "ck"},
                      {"event": "train_step", "node": "Trainer", "step": step, "loss": 9.0, "lr": 0.1},
                      {"event": "run_end", "status": "completed", "time": 0.0}):
            recorder(event)


def test_a_continued_run_shows_its_earlier_part_and_another_workflow_starts_with_fresh_axes(
        qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    window = make_window(small_workflow(tmp_path, epochs=1, batch_size=64, checkpoint_dir="ck"))
    panel = window.runs.panel
    assert run_and_wait(qtbot, window) == (0, "Run completed."), panel.console.toPlainText()
    first = [step for step, _ in panel.curves.step_points()]
    record_elsewhere(tmp_path / "elsewhere", first[-1] - 0.5, monkeypatch)  # same words, another folder: not its past
    type_on_node(window, "Trainer", "epochs", "2")

    def go_on(box: QtWidgets.QWidget) -> None:
        next(b for b in box.buttons() if b.text().replace("&", "").startswith(("Continue", "Train"))).click()

    with qtbot.waitSignal(window.runs.process.ended, timeout=180_000) as ended:
        with answer_modal(qtbot, go_on):
            QtTest.QTest.mouseClick(panel.run_button, LEFT)
    assert ended.args[0] == 0, panel.console.toPlainText()
    show_curves(panel)
    steps = [step for step, _ in panel.curves.step_points()]
    assert steps[:len(first)] == first and len(steps) > len(first)  # the first epoch, then the second
    assert steps[-1] == 2 * panel.curves.val.getData()[0][0]
    qtbot.waitUntil(lambda: panel.curves.accuracy.viewRange()[0][1] > 10)  # drawn: accuracy at two epoch ends
    window.undo.setClean()
    examples = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File").actions()
    wine = next(a for a in next(a.menu() for a in examples if a.text() == "&Examples").actions()
                if a.text() == "wine_mlp")
    wine.trigger()
    assert window.windowTitle().startswith("wine_mlp")
    for plot in (panel.curves.loss, panel.curves.accuracy, panel.curves.lr):
        (x_low, x_high), (y_low, y_high) = plot.viewRange()
        assert x_high <= 1.5 and y_high <= 1.5, plot.viewRange()  # nothing of the digits run's ranges
