"""Render the editor screenshots in docs/: `python docs/make_screenshots.py` (offscreen, about a minute).

editor.png: the digits example; trainer-dialog.png: the Trainer's parameter dialog;
run-in-progress.png: a real run of the example, grabbed after a few epochs.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6 import QtCore, QtWidgets  # noqa: E402

from nodeflow.gui import editing  # noqa: E402
from nodeflow.gui.app import make_window, screenshot  # noqa: E402
from nodeflow.gui.runner import abandon_tools  # noqa: E402

DOCS = ROOT / "docs"


def wait_until(app: QtWidgets.QApplication, done: object, seconds: float = 300) -> None:
    timer = QtCore.QElapsedTimer()
    timer.start()
    while not done() and timer.elapsed() < seconds * 1000:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)


def main() -> None:
    app = QtWidgets.QApplication([])
    work = Path(tempfile.mkdtemp(prefix="nodeflow-shots-"))
    os.chdir(work)
    shutil.copy(ROOT / "workflows" / "digits_cnn.json", work / "digits_cnn.json")
    settings = QtCore.QSettings(str(work / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = make_window(str(work / "digits_cnn.json"), settings)
    trainer = next(n for n in window.graph.all_nodes() if n.name() == "Trainer")
    trainer.set_selected(True)
    window._selection()
    screenshot(window, DOCS / "editor.png", "1440x900")

    dialog = editing.edit_dialog(window.graph, trainer, window.dirs(), window)
    dialog.field("checkpoint_dir").setText("checkpoints/digits_cnn")
    dialog.field("save_every_n_epochs").setValue(5)
    dialog.resize(560, 900)
    screenshot(dialog, DOCS / "trainer-dialog.png", "560x900")
    dialog.reject()

    editing.set_params(window.graph, trainer, {"epochs": 12, "save_every_n_epochs": 3})
    epochs: list[int] = []
    window.runs.process.event.connect(lambda e: e["event"] == "epoch_end" and epochs.append(e["epoch"]))
    window.runs.run()
    wait_until(app, lambda: len(epochs) >= 7)
    window.runs.panel.tabs.setCurrentWidget(window.runs.panel.curves)
    screenshot(window, DOCS / "run-in-progress.png", "1440x900")
    window.runs.stop()
    wait_until(app, lambda: not window.runs.process.running(), 60)
    abandon_tools(window)
    window.undo.setClean()
    window.close()
    print("wrote", ", ".join(str(DOCS / n) for n in ("editor.png", "trainer-dialog.png", "run-in-progress.png")))


if __name__ == "__main__":
    main()
