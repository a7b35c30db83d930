"""A scripted walk through the editor in a real X window, with screenshots of what a user sees.

    xvfb-run -s "-screen 0 1280x720x24" python docs/make_screenshots.py docs          # the docs' pictures
    xvfb-run -s "-screen 0 1920x1080x24" python docs/make_screenshots.py /tmp/shots-1080

The window opens at the size the editor picks for that screen. On the digits example (a copy,
in a temporary folder) the walk selects the Trainer, double-clicks it (the parameter dialog),
presses Check, presses Run (the curves mid-run; the results on the nodes and Evaluate's
confusion matrix at the end) and opens the Library; then it runs a one-epoch GPT on Tiny
Shakespeare for a minute (the per-step curves). Every step is driven by Qt input
events on the real widgets and photographed with ImageMagick's `import -window root`, so the
pictures show the X screen itself: a window that outgrows the screen shows cut off. After
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

    def photograph_dialog() -> None:
        dialog = QtWidgets.QApplication.activeModalWidget()
        if dialog is None:
            QtCore.QTimer.singleShot(50, photograph_dialog)
            return
        shoot(window, out, "trainer-dialog.png")
        dialog.reject()

    QtCore.QTimer.singleShot(0, photograph_dialog)
    QtTest.QTest.mouseDClick(viewport, LEFT, NONE, node_point(window, "Trainer"))

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
