"""The pictures in docs/: the editor, the Trainer's dialog, a real run in progress, and the Library."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from nodeflow.gui import editing
from nodeflow.gui.app import make_window, run_until, screenshot
from nodeflow.gui.runner import abandon_tools

NAMES = ("editor.png", "trainer-dialog.png", "run-in-progress.png", "library.png")


def render_docs_screenshots(example: Path, out: Path) -> list[Path]:
    """Render the four pictures of `example` (a copy, run in a temporary folder) into `out`."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    work = Path(tempfile.mkdtemp(prefix="nodeflow-shots-"))
    os.chdir(work)
    shutil.copy(example, work / example.name)
    settings = QtCore.QSettings(str(work / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = make_window(str(work / example.name), settings)
    trainer = next(n for n in window.graph.all_nodes() if n.name() == "Trainer")
    trainer.set_selected(True)
    window._selection()
    screenshot(window, out / NAMES[0], "1440x900")

    dialog = editing.edit_dialog(window.graph, trainer, window.dirs(), window)
    dialog.field("checkpoint_dir").setText("checkpoints/digits_cnn/{run}")
    dialog.field("save_every_n_epochs").setValue(5)
    screenshot(dialog, out / NAMES[1], "560x900")
    dialog.reject()

    editing.set_params(window.graph, trainer, {"epochs": 12, "save_every_n_epochs": 3})
    epochs: list[int] = []
    window.runs.process.event.connect(lambda e: e["event"] == "epoch_end" and epochs.append(e["epoch"]))
    window.runs.run()
    run_until(lambda: len(epochs) >= 7, 300)
    window.runs.panel.tabs.setCurrentWidget(window.runs.panel.curves)
    screenshot(window, out / NAMES[2], "1440x900")
    window.runs.stop()
    run_until(lambda: not window.runs.process.running(), 60)
    panel = window.runs.panel.checkpoints
    window.runs.panel.tabs.setCurrentWidget(panel)
    scanned: list[int] = []
    panel.library.scanned.connect(lambda: scanned.append(1))
    panel.views.setCurrentWidget(panel.library)  # the Library of ./checkpoints, with the run just made
    run_until(lambda: bool(scanned), 60)
    screenshot(window, out / NAMES[3], "1440x900")
    abandon_tools(window)
    window.undo.setClean()
    window.close()
    app.processEvents()
    return [out / name for name in NAMES]
