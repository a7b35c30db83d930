"""The Library view of the Checkpoints panel: every checkpoint under a root folder, whoever
wrote it (NodeFlow runs, the CheckpointManager API, other tools' .pt and .pth files).

The table is `nodeflow ckpt scan ROOT --json`, run in a child process, so the editor never
reads a pickle itself. A file-system watcher on every folder the scan looked in rescans
(at most twice a second) when a file appears, goes or is renamed: new checkpoints show up
while the editor is open, with no restart. The root is remembered in the editor's settings.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from nodeflow.checkpoints.scan import COLUMNS, cells
from nodeflow.gui.runner import run_tool
from nodeflow.gui.tables import record_table

RESCAN_MS = 500
ROOT_KEY = "library/root"


class LibraryView(QtWidgets.QWidget):
    message = QtCore.Signal(str)  # a line for the console
    inference_requested = QtCore.Signal(str)  # absolute path
    scanned = QtCore.Signal()

    def __init__(self, run_dir: Path, settings: QtCore.QSettings, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.run_dir, self.settings = run_dir, settings
        self.records: list[dict[str, Any]] = []
        self._scanning = self._again = False
        self.watcher = QtCore.QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self.rescan_soon)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.rescan)
        self.root_edit = QtWidgets.QLineEdit(str(settings.value(ROOT_KEY, str(run_dir / "checkpoints"))), self)
        self.root_edit.setObjectName("library_root")
        self.root_edit.editingFinished.connect(lambda: self.set_root(self.root_edit.text()))
        self.note = QtWidgets.QLabel("", self)  # inline problems and the count
        self.note.setObjectName("library_note")
        self.note.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
        self.table = record_table("library_table", COLUMNS, self)
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Root:", self))
        bar.addWidget(self.root_edit, 1)
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        for key, text, slot in (("choose", "Choose…", self.choose), ("rescan", "Rescan", self.rescan),
                                ("verify", "Verify", self.verify), ("infer", "Use for inference", self.infer)):
            button = QtWidgets.QPushButton(text, self)
            button.setObjectName(f"library_{key}")
            button.clicked.connect(slot)
            bar.addWidget(button)
            self.buttons[key] = button
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)

    def root(self) -> Path:
        text = self.root_edit.text().strip()
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.run_dir / path

    def set_root(self, text: str) -> None:
        if text != self.root_edit.text():
            self.root_edit.setText(text)
        self.settings.setValue(ROOT_KEY, text)
        self.rescan()

    def choose(self) -> None:
        chosen = QtWidgets.QFileDialog.getExistingDirectory(self, "Checkpoint library root", str(self.root()))
        if chosen:
            self.set_root(chosen)

    def rescan_soon(self) -> None:
        if not self._timer.isActive():
            self._timer.start(RESCAN_MS)

    def rescan(self) -> None:
        self._timer.stop()
        root = self.root()
        if not root.is_dir():
            self._watch([])
            self._show([])
            self.note.setText(f"✗ {root} does not exist: choose another root (the default is ./checkpoints).")
            return
        if self._scanning:  # one scan at a time; changes meanwhile ask for one more
            self._again = True
            return
        self._scanning = True
        run_tool(self, ["ckpt", "scan", str(root), "--json"], self.run_dir, self._scanned)

    def _scanned(self, code: int, out: str, err: str) -> None:
        self._scanning = False
        if code != 0:
            self.note.setText(f"✗ {(err.strip().splitlines() or ['scan failed'])[-1]}")
        else:
            lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            records = [r for r in lines if "file" in r]
            folders = next((r["folders"] for r in lines if "folders" in r), [])
            self._watch([str(self.root()), *folders])
            self._show(records)
            refused = sum(r["status"].startswith("refused") for r in records)
            self.note.setText(f"{len(records)} checkpoint file(s) under {self.root()}"
                              + (f"; {refused} refused (pickled code)" if refused else ""))
        if self._again:
            self._again = False
            self.rescan()
        self.scanned.emit()

    def _watch(self, folders: list[str]) -> None:
        old = set(self.watcher.directories())
        new = set(folders)
        if old - new:
            self.watcher.removePaths(sorted(old - new))
        if new - old:
            self.watcher.addPaths(sorted(new - old))

    def _show(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.table.setRowCount(len(records))
        for r, record in enumerate(records):
            for c, text in enumerate(cells(record).values()):
                item = QtWidgets.QTableWidgetItem(text)
                if text.startswith(("✗", "refused")):
                    item.setForeground(QtGui.QBrush(QtGui.QColor("#d9534f")))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    def selected(self) -> dict[str, Any] | None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        if not rows or rows[0] >= len(self.records):
            self.message.emit("Select a checkpoint in the Library first.")
            return None
        return self.records[rows[0]]

    def verify(self) -> None:
        record = self.selected()
        if record is not None:
            run_tool(self, ["ckpt", "verify", record["path"]], self.run_dir,
                     lambda c, o, e: [self.message.emit(x) for x in (o + e).splitlines() if x.strip()])

    def infer(self) -> None:
        record = self.selected()
        if record is None:
            return
        if record["status"].startswith("refused"):
            self.message.emit(f"{record['file']}: {record['status']}; it is not loaded.")
            return
        self.inference_requested.emit(record["path"])
