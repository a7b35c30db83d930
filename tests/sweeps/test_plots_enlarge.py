"""The Sweep tab's plots open large on a click: a dialog that fits the screen, the picture's aspect ratio
kept, closed by Esc."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.gui.conftest import make_window  # noqa: F401 (a fixture)
from tests.sweeps.conftest import LR, small_workflow

from PySide6 import QtCore, QtTest, QtWidgets  # after the offscreen setup in tests.gui

from nodeflow.gui.sweep_panel import PlotView, SweepPanel

LEFT = QtCore.Qt.MouseButton.LeftButton


def test_a_click_on_a_plot_opens_it_large_to_fit_the_screen(qtbot: Any, make_window: Any,  # noqa: F811
                                                            tmp_path: Path) -> None:
    workflow = small_workflow(tmp_path, epochs=1)
    window = make_window(workflow)
    screen = window.screen().availableGeometry()
    window.setGeometry(screen.adjusted(10, 40, -10, -20))
    panel = SweepPanel.of(window)
    panel.start(workflow, [LR], 2, "val_loss", "none")
    qtbot.waitUntil(lambda: panel.finished, timeout=300_000)
    assert len(panel.trials) == 2, panel.status.text()
    QtWidgets.QApplication.processEvents()

    for index, label in enumerate(panel.plots):
        assert label.isVisible() and not label.pixmap().isNull(), panel.status.text()
        small = label.pixmap().size()
        QtTest.QTest.mouseClick(label, LEFT)
        qtbot.waitUntil(lambda: any(isinstance(w, PlotView) and w.isVisible()
                                    for w in QtWidgets.QApplication.topLevelWidgets()))
        view = next(w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, PlotView) and w.isVisible())
        assert view.windowTitle() == panel.files[index].name  # history.png, parallel.png
        assert screen.contains(view.frameGeometry()), (view.frameGeometry(), screen)  # fits the screen
        shown, whole = view.picture.pixmap().size(), panel.pixmaps[index].size()
        assert shown.width() > small.width() and shown.height() > small.height()  # larger than in the tab
        assert shown.width() > 0.8 * screen.width() or shown.height() > 0.8 * screen.height()  # fills the screen
        assert abs(shown.width() / shown.height() - whole.width() / whole.height()) < 0.02  # not stretched
        QtTest.QTest.keyClick(view, QtCore.Qt.Key.Key_Escape)
        assert view is panel.enlarged
        qtbot.waitUntil(lambda: not panel.enlarged.isVisible())
