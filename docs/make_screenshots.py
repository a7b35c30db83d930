"""A scripted walk through the editor in a real X window, with screenshots of what a user sees.

    xvfb-run -s "-screen 0 1280x720x24" python docs/make_screenshots.py docs          # the docs' pictures
    xvfb-run -s "-screen 0 1920x1080x24" python docs/make_screenshots.py /tmp/shots-1080

The window opens at the size the editor picks for that screen. On the digits example (a copy,
in a temporary folder) the walk selects the Trainer, types a refused learning rate into the
Properties panel, double-clicks the Trainer (the parameter dialog), double-clicks empty canvas
(the node search), opens the Help menu and the Sweep dialog, presses Check, presses Run (the
curves mid-run; the results on the nodes and Evaluate's confusion matrix at the end) and opens
the Library; then it runs a one-epoch GPT on Tiny Shakespeare for a minute (the per-step curves).
Every step is driven by Qt input events on the real widgets and photographed with ImageMagick's
`import -window root`, so the pictures show the X screen itself: a window that outgrows the
screen shows cut off. After
each step the script prints the window's geometry against the screen's.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6 import QtCore, QtTest, QtWidgets  # noqa: E402

from nodeflow.gui.app import make_window, run_until  # noqa: E402
from nodeflow.gui.runner import abandon_tools  # noqa: E402

LEFT, NONE = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier


def shoot(window: QtWidgets.QWidget, out: Path, name: str) -> None:
    for _ in range(20):
        QtWidgets.QApplication.processEvents()
    QtTest.QTest.qWait(300)
    subprocess.run(["import", "-window", "root", str(out / name)], check=True)
    screen = window.screen().geometry()
    fits = screen.contains(window.frameGeometry())
    print(f"{name}: window {window.width()}x{window.height()} on a {screen.width()}x{screen.height()} screen"
          f"{'' if fits else ' — DOES NOT FIT'}")


def node_point(window: object, name: str) -> QtCore.QPoint:
    node = next(n for n in window.graph.all_nodes() if n.name() == name)
    return window.graph.viewer().mapFromScene(node.view.sceneBoundingRect().center())


def open_copy(example: Path, work: Path) -> object:
    shutil.copy(example, work / example.name)
    if not (work / "data").exists():  # the examples' data, where their relative paths look
        (work / "data").symlink_to(example.parent / "data")
    settings = QtCore.QSettings(str(work / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = make_window(str(work / example.name), settings)
    window.show()
    window.activateWindow()
    return window


def select(window: object, name: str) -> None:
    QtTest.QTest.mouseClick(window.graph.viewer().viewport(), LEFT, NONE, node_point(window, name))
    QtWidgets.QApplication.processEvents()
    selected = [n.name() for n in window.graph.selected_nodes()]
    if selected != [name]:
        print(f"a click on {name} left {selected or 'nothing'} selected")


def empty_point(window: object) -> QtCore.QPoint:
    """A point of the canvas with nothing on it, low in the view."""
    viewer = window.graph.viewer()
    rect = viewer.viewport().rect()
    for y in range(rect.bottom() - 40, rect.top(), -20):
        for x in range(40, rect.right() - 300, 40):  # room for the search beside it
            if viewer.itemAt(QtCore.QPoint(x, y)) is None:
                return QtCore.QPoint(x, y)
    raise RuntimeError("no empty canvas in view")


def photograph_modal(window: object, out: Path, name: str) -> None:
    """Photograph the next modal dialog, then cancel it (queue this before what opens it)."""
    tries = [0]

    def take() -> None:
        dialog = QtWidgets.QApplication.activeModalWidget()
        if dialog is None:
            tries[0] += 1
            if tries[0] < 400:
                QtCore.QTimer.singleShot(50, take)
            else:
                print(f"{name}: no dialog opened")
            return
        shoot(window, out, name)
        dialog.reject()

    QtCore.QTimer.singleShot(0, take)


def open_menu(window: object, title: str) -> QtWidgets.QMenu:
    """Click a title on the menu bar; its menu opens."""
    bar = window.menuBar()
    action = next(a for a in bar.actions() if a.text() == title)
    QtTest.QTest.mouseClick(bar, LEFT, NONE, bar.actionGeometry(action).center())
    QtTest.QTest.qWait(100)
    return action.menu()


def tour(window: object, out: Path) -> None:
    """A refused value in the Properties panel, the node search, the Help menu, the Sweep dialog."""
    field = window.properties.fields["lr"]
    window.properties.ensureWidgetVisible(field.editor)
    field.editor.setFocus()
    field.editor.selectAll()
    QtTest.QTest.keyClicks(field.editor, "fast")
    QtTest.QTest.keyClick(field.editor, QtCore.Qt.Key.Key_Return)
    shoot(window, out, "properties.png")
    field.show(field.value)  # the node's own value back: the refused text was never applied

    viewport = window.graph.viewer().viewport()
    QtTest.QTest.mouseDClick(viewport, LEFT, NONE, empty_point(window))
    popup = window.findChild(QtWidgets.QFrame, "node_search")
    QtTest.QTest.keyClicks(popup.text, "ev")
    shoot(window, out, "search.png")
    popup.hide()

    open_menu(window, "&Help")
    shoot(window, out, "help-menu.png")
    QtWidgets.QApplication.activePopupWidget().hide()

    photograph_modal(window, out, "sweep-dialog.png")
    run = open_menu(window, "&Run")
    sweep = next(a for a in run.actions() if a.text().startswith("S&weep"))
    QtTest.QTest.mouseClick(run, LEFT, NONE, run.actionGeometry(sweep).center())


def close(window: object) -> None:
    abandon_tools(window)
    window.undo.setClean()
    window.close()


def walk(example: Path, out: Path) -> None:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    work = Path(tempfile.mkdtemp(prefix="nodeflow-walk-"))
    os.chdir(work)
    window = open_copy(example, work)
    viewport = window.graph.viewer().viewport()
    QtTest.QTest.mouseClick(viewport, LEFT, NONE, node_point(window, "Trainer"))
    shoot(window, out, "editor.png")
    photograph_modal(window, out, "trainer-dialog.png")
    QtTest.QTest.mouseDClick(viewport, LEFT, NONE, node_point(window, "Trainer"))
    tour(window, out)
    if window.isWindowModified():
        print("the tour left the workflow modified")

    ended: list[int] = []
    window.runs.process.ended.connect(lambda code, _: ended.append(code))
    QtTest.QTest.mouseClick(window.runs.panel.check_button, LEFT)
    run_until(lambda: bool(ended), 120)
    shoot(window, out, "check.png")

    epochs: list[int] = []
    window.runs.process.event.connect(lambda e: e["event"] == "epoch_end" and epochs.append(e["epoch"]))
    ended.clear()
    QtTest.QTest.mouseClick(window.runs.panel.run_button, LEFT)
    run_until(lambda: len(epochs) >= 6, 300)
    window.runs.panel.tabs.setCurrentWidget(window.runs.panel.curves)
    shoot(window, out, "run-in-progress.png")
    run_until(lambda: bool(ended), 600)
    window.graph.clear_selection()
    select(window, "Evaluate")
    QtTest.QTest.qWait(200)  # the Properties panel laid out, then scrolled to Evaluate's confusion matrix
    matrix = window.properties.findChild(QtWidgets.QLabel, "confusion_matrix")
    if matrix is None:
        print("no confusion matrix in the Properties panel")
    else:
        window.properties.ensureWidgetVisible(matrix, 0, 0)
    shoot(window, out, "results.png")
    panel = window.runs.panel.checkpoints
    window.runs.panel.tabs.setCurrentWidget(panel)
    scanned: list[int] = []
    panel.library.scanned.connect(lambda: scanned.append(1))
    panel.views.setCurrentWidget(panel.library)  # the Library of ./checkpoints, with the run just made
    run_until(lambda: bool(scanned), 60)
    shoot(window, out, "library.png")
    close(window)

    gpt = open_copy(example.parent / "shakespeare_gpt.json", work)  # per-step curves of a one-epoch run
    steps: list[int] = []
    gpt.runs.process.event.connect(lambda e: e["event"] == "train_step" and steps.append(e["step"]))
    QtTest.QTest.mouseClick(gpt.runs.panel.run_button, LEFT)
    run_until(lambda: len(steps) >= 40, 240)
    gpt.runs.panel.tabs.setCurrentWidget(gpt.runs.panel.curves)
    shoot(gpt, out, "gpt-curves.png")
    QtTest.QTest.mouseClick(gpt.runs.panel.stop_button, LEFT)
    run_until(lambda: not gpt.runs.process.running(), 60)
    close(gpt)
    app.processEvents()


if __name__ == "__main__":
    if not os.environ.get("DISPLAY"):
        sys.exit("needs an X display: run it under xvfb-run (see the docstring)")
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs").resolve()
    target.mkdir(parents=True, exist_ok=True)
    walk(ROOT / "workflows" / "digits_cnn.json", target)
