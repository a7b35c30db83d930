"""No silent failures: an exception raised in any slot is shown and logged, and the editor stays usable.

Qt calls Python slots from its event loop; an exception there reaches `sys.excepthook` and,
by default, only stderr, so the press that raised it seems to do nothing. The editor's entry
point installs `ErrorReporter` once: the error goes to the status line and the Issues tab
(its tooltip holds the traceback) and is appended to a log file in the user's config folder.
"""
from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

if TYPE_CHECKING:
    from nodeflow.gui.window import MainWindow


def log_path() -> Path:
    folder = QtCore.QStandardPaths.writableLocation(QtCore.QStandardPaths.StandardLocation.AppConfigLocation)
    return Path(folder or Path.home() / ".config" / "NodeFlow") / "editor-errors.log"


class ErrorReporter:
    def __init__(self, window: MainWindow, log: Path | None = None):
        self.window, self.log = window, log or log_path()

    def install(self) -> None:
        sys.excepthook = self

    def __call__(self, kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        details = "".join(traceback.format_exception(kind, error, tb))
        line = f"Internal error: {kind.__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
        try:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("a", encoding="utf-8") as out:
                out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{details}")
            where = f" (details in {self.log})"
        except OSError:
            where = ""
        print(details, file=sys.stderr)
        try:
            self.window.statusBar().showMessage(line + where, 15000)
            item = QtWidgets.QListWidgetItem(line + " — hover for details")
            item.setToolTip(details)
            self.window.runs.panel.issues.addItem(item)
            self.window.runs.panel.tabs.setCurrentWidget(self.window.runs.panel.issues)
        except RuntimeError:  # the window is gone (closing): stderr and the log have it
            pass
