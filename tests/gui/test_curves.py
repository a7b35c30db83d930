"""The Curves tab: loss by optimizer step while the first epoch still runs, validation at epoch
ends, a log-scale toggle; the run record keeps the per-step values and the Runs tab overlays them."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtTest

from nodeflow.gui.plot import REDRAW_MS, CurvesCanvas
from nodeflow.runs import index_dir
from tests.gui.conftest import LEFT, node, small_workflow
from tests.gui.test_running import run_and_wait

CTRL, NO_MODIFIER = QtCore.Qt.KeyboardModifier.ControlModifier, QtCore.Qt.KeyboardModifier.NoModifier


def handed(line: Any) -> list[float]:
    """The x values a pyqtgraph line was last given (getData is what the view shows: clipped to
    the view range and downsampled, so a point beyond a range not yet widened is missing)."""
    xs = line.getOriginalDataset()[0]
    return [] if xs is None else list(xs)


def test_step_points_show_during_the_first_epoch_and_the_runs_tab_overlays_two_runs(
        qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # one torch thread in the child: on a busy 2-core machine two threads spin against each other
    # and a digits epoch takes minutes instead of seconds; what is tested does not depend on it
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    window = make_window(small_workflow(tmp_path, epochs=2, batch_size=4, checkpoint_dir=""))
    panel = window.runs.panel
    curves = panel.curves
    drawn: list[float] = []  # what the tab showed after the last train_step before the first epoch_end
    first_ends: list[int] = []

    def on_event(e: dict[str, Any]) -> None:  # runs after the panel has taken the event
        if e["event"] == "fit_start":  # Run shows the console; the user turns to the Curves tab
            QtTest.QTest.mouseClick(panel.tabs.tabBar(), LEFT, NO_MODIFIER,
                                    panel.tabs.tabBar().tabRect(panel.tabs.indexOf(curves)).center())
        elif e["event"] == "train_step" and not first_ends:
            drawn[:] = handed(curves.raw)
        elif e["event"] == "epoch_end" and not first_ends:
            first_ends.append(e["step"])

    window.runs.process.event.connect(on_event)
    assert run_and_wait(qtbot, window) == (0, "Run completed."), panel.console.toPlainText()
    first_end = first_ends[0]
    assert drawn and min(drawn) < first_end and max(drawn) <= first_end  # drawn while the first epoch ran
    qtbot.waitUntil(lambda: len(handed(curves.raw)) == len(curves.step_points()), timeout=5000)
    steps = [s for s, _ in curves.step_points()]
    assert steps == sorted(steps) and steps[-1] == 2 * first_end and len(curves.smoothed.x) == len(steps)
    # validation at each epoch's end; the last one is drawn on the redraw timer, after the last step
    qtbot.waitUntil(lambda: handed(curves.val) == [first_end, 2 * first_end], timeout=5000)
    assert curves.top_axis.steps_per_epoch == first_end  # the top axis counts epochs
    assert handed(curves.lr_line) == steps  # a rate at every step

    node(window, "Trainer").set_property("nf_param_lr", 0.02)
    node(window, "Trainer").set_property("nf_param_epochs", 1)
    assert run_and_wait(qtbot, window) == (0, "Run completed.")
    records = [json.loads(p.read_text()) for p in index_dir().glob("*.json")]
    ours = [r for r in records if Path(r.get("workflow") or "").resolve() == (tmp_path / "small.json").resolve()]
    assert len(ours) == 2
    for record in ours:
        pairs = record["steps"]["Trainer"]["train_loss"]
        assert len(pairs) >= 4 and all(math.isfinite(loss) for _, loss in pairs)
        epochs = len(record["history"]["Trainer"]["val_loss"])
        assert [s for s, _ in record["steps"]["Trainer"]["val_loss"]] == [first_end, 2 * first_end][:epochs]
    panel.tabs.setCurrentWidget(panel.runs)
    runs = panel.runs
    qtbot.waitUntil(lambda: runs.table.rowCount() == 2, timeout=5000)
    for row, modifier in ((0, NO_MODIFIER), (1, CTRL)):
        rect = runs.table.visualRect(runs.table.model().index(row, 0))
        QtTest.QTest.mouseClick(runs.table.viewport(), LEFT, modifier, rect.center())
    lines = [line for line in runs.step_axes.lines if line.get_linestyle() == "-"]
    by_run = {r["id"][-4:]: [s for s, _ in r["steps"]["Trainer"]["train_loss"]] for r in ours}
    assert sorted(line.get_label().split()[0] for line in lines) == sorted(by_run)
    for line in lines:
        assert list(line.get_xdata()) == by_run[line.get_label().split()[0]]  # by step, as recorded


def test_the_log_scale_toggle_and_a_redraw_timer_not_a_redraw_per_event(qtbot: Any) -> None:
    curves = CurvesCanvas()
    qtbot.addWidget(curves)
    curves.resize(900, 300)
    curves.show()
    qtbot.wait(REDRAW_MS + 50)  # quiet since the (empty) redraw on show
    for step in range(1, 501):  # loss from 10 down to 0.01
        curves.add_step({"step": step, "epoch": step / 100, "loss": 10 ** (1 - 3 * step / 500), "lr": 0.001})
    assert len(handed(curves.raw)) == 1  # the first point drew at once, the others wait for the timer
    qtbot.waitUntil(lambda: len(handed(curves.raw)) == 500, timeout=5000)
    qtbot.waitUntil(lambda: curves.loss.viewRange()[1][1] > 9, timeout=5000)  # linear: the top near 10
    QtTest.QTest.mouseClick(curves.log_scale, LEFT)
    assert curves.loss.getAxis("left").logMode
    qtbot.waitUntil(lambda: curves.loss.viewRange()[1][1] < 1.5 and curves.loss.viewRange()[1][0] < -1.5,
                    timeout=5000)  # log10: 1 at the top, -2 at the bottom
    QtTest.QTest.mouseClick(curves.log_scale, LEFT)
    assert not curves.loss.getAxis("left").logMode
    qtbot.waitUntil(lambda: curves.loss.viewRange()[1][1] > 9, timeout=5000)


def keys_of(plot: Any) -> list[Any]:
    """The text items inside `plot` (a pyqtgraph PlotItem) that name its lines: its legend, wherever it is."""
    import pyqtgraph as pg

    def inside(item: Any) -> bool:
        while item is not None and item is not plot:
            item = item.parentItem()
        return item is plot

    return [item for item in plot.scene().items() if isinstance(item, pg.LabelItem) and inside(item)
            and ("train" in item.text or "val" in item.text)]


def test_the_accuracy_legend_does_not_cover_its_curves(qtbot: Any) -> None:
    """Accuracy rising to the top right, where a legend inside the panel sat over the lines."""
    curves = CurvesCanvas()
    qtbot.addWidget(curves)
    curves.resize(1250, 260)  # the Curves tab at 1280x720
    curves.show()
    for epoch in range(1, 6):
        for step in range(epoch * 20 - 19, epoch * 20 + 1):
            curves.add_step({"step": step, "epoch": step / 20, "loss": 2 / (1 + step / 20), "lr": 0.001})
        curves.add_epoch({"epoch": epoch, "step": epoch * 20, "metrics": {
            "train_accuracy": 0.5 + 0.09 * epoch, "val_accuracy": 0.55 + 0.08 * epoch, "val_loss": 1 / epoch}})
    qtbot.waitUntil(lambda: all(len(handed(line)) == 5 for line in curves.accuracy_lines.values()))
    plot = curves.accuracy
    qtbot.waitUntil(lambda: plot.viewRange()[0][1] >= 100 and plot.viewRange()[1][1] >= 0.95)
    keys = keys_of(plot)
    assert any("train" in k.text for k in keys) and any("val" in k.text for k in keys)  # the lines are named
    for line in curves.accuracy_lines.values():
        for x, y in zip(*line.getData()):
            point = plot.vb.mapViewToScene(QtCore.QPointF(x, y))
            dot = QtCore.QRectF(point.x() - 3, point.y() - 3, 6, 6)
            covering = [k.text for k in keys if k.sceneBoundingRect().intersects(dot)]
            assert not covering, (x, y, covering)
