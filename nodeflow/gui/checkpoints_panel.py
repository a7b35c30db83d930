"""The Checkpoints panel: the checkpoints in the selected Trainer's checkpoint_dir, and the
Library view (nodeflow.gui.library_view) of every checkpoint under a root folder.

The table comes from the folder's manifest (JSON), read in the editor's own process, at
most once a second however fast a run saves. Each file up to 16 MiB is hashed once (again
only when its size or mtime changes); larger ones show "✓ size" until Verify checks their
SHA-256, so a listing never stalls the editor. Every operation that opens a checkpoint runs a `nodeflow ckpt` command in
a child process, so the editor never unpickles one and a hostile file is refused there.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from nodeflow.checkpoints.manifest import cells, read_entries, rows, summary_line, verify_file
from nodeflow.core.errors import UserError
from nodeflow.gui.export_dialog import ExportDialog
from nodeflow.gui.library_view import LibraryView
from nodeflow.gui.runner import run_tool
from nodeflow.gui.tables import record_table
from nodeflow.gui.tags_dialog import TagsDialog

REFRESH_MS = 1000  # at most one listing a second while a run saves
HASH_LIMIT = 16 << 20  # files hashed in the editor's process; larger ones are left to Verify

class CheckpointsPanel(QtWidgets.QWidget):
    """Lists, verifies, compares, exports, deletes and plots; resume or infer from a checkpoint."""

    message = QtCore.Signal(str)  # a line for the console
    resume_requested = QtCore.Signal(str)  # absolute path
    inference_requested = QtCore.Signal(str)  # absolute path
    workflow_found = QtCore.Signal(str, str)  # the workflow text a checkpoint holds, that checkpoint's path
    refreshed = QtCore.Signal()

    def __init__(self, run_dir: Path, settings: QtCore.QSettings, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.run_dir = run_dir
        self.folder: Path | None = None
        self.records: list[dict[str, Any]] = []
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh)
        self._export: ExportDialog | None = None
        self._checked: dict[Path, tuple[Any, str | None]] = {}  # path -> ((size, mtime, checksum), full check)
        self.folder_label = QtWidgets.QLabel("Select a Trainer to see its checkpoints.", self)
        self.folder_label.setObjectName("checkpoint_folder")
        self.summary_label = QtWidgets.QLabel("", self)  # the folder's summary: count, MB, best, latest, times
        self.summary_label.setObjectName("checkpoint_summary")
        self.table = record_table("checkpoint_table", (), self)  # columns: those of `nodeflow ckpt list`
        heading = QtWidgets.QHBoxLayout()  # one line: the folder, then its summary
        for label in (self.folder_label, self.summary_label):
            label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
            label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            heading.addWidget(label, 1)
        buttons = QtWidgets.QHBoxLayout()
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        for key, text, slot in (("refresh", "Refresh", self.refresh), ("verify", "Verify", self.verify),
                                ("compare", "Compare", self.compare), ("export", "Export…", self.export),
                                ("delete", "Delete…", self.delete), ("tags", "Tags…", self.edit_tags),
                                ("curves", "Curves", self.curves),
                                ("resume", "Resume from here", self.resume),
                                ("infer", "Use for inference", self.infer),
                                ("workflow", "Open its workflow", self.open_workflow)):
            button = QtWidgets.QPushButton(text, self)
            button.setObjectName(f"ckpt_{key}")
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self.buttons[key] = button
        buttons.addStretch(1)
        self.note = QtWidgets.QLabel("", self)  # why a button did nothing, where the user is looking
        self.note.setObjectName("ckpt_note")
        self.note.setStyleSheet("color: #d9534f;")
        self.note.setWordWrap(True)
        self.note.hide()
        self.table.itemSelectionChanged.connect(lambda: self.say(""))
        trainer_view = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(trainer_view)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(heading)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)
        self.library = LibraryView(run_dir, settings, self)
        self.library.message.connect(self.message)
        self.library.inference_requested.connect(self.inference_requested)
        self.views = QtWidgets.QTabWidget(self)
        self.views.setObjectName("checkpoint_views")
        self.views.setDocumentMode(True)  # no frame of its own inside the run dock's tabs
        self.views.addTab(trainer_view, "Trainer")
        self.views.addTab(self.library, "Library")
        self.views.currentChanged.connect(lambda _: self.views.currentWidget() is self.library
                                          and self.library.rescan())
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(self.views)

    def say(self, text: str) -> None:
        """A line under the buttons (and in the console): why a press did nothing."""
        self.note.setText(text)
        self.note.setVisible(bool(text))
        if text:
            self.message.emit(text)

    def _folder_needed(self) -> bool:
        if self.folder is not None and self.folder.is_dir():
            return True
        self.say("No checkpoints here yet: select a Trainer that has run" if self.folder is None
                 else f"No checkpoints yet: {self.folder} does not exist (run the Trainer first)")
        return False

    def set_folder(self, folder: Path | None, why: str = "") -> None:
        self.folder = folder
        self.say("")
        self.folder_label.setText(str(folder) if folder else why or "Select a Trainer to see its checkpoints.")
        self.folder_label.setToolTip(self.folder_label.text())
        self.refresh()

    def selected(self) -> list[Path]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.folder / self.records[r]["file"] for r in rows if self.folder and r < len(self.records)]

    def _tool(self, args: list[str], done: Any = None) -> None:
        if not self.window().isVisible():
            return  # the editor is closing
        run_tool(self, args, self.run_dir, done or self._print)

    def _print(self, code: int, out: str, err: str) -> None:
        for line in (out + err).splitlines():
            if line.strip():
                self.message.emit(line)

    def refresh_soon(self) -> None:
        """Refresh within a second; requests meanwhile are folded into that one."""
        if not self._timer.isActive():
            self._timer.start(REFRESH_MS)

    def refresh(self) -> None:
        self._timer.stop()
        if self.folder is None or not self.folder.is_dir():
            self.summary_label.setText("")
            self._show([])
            return
        try:
            summary, listed = summary_line(read_entries(self.folder)), rows(self.folder, full=False)
        except UserError as exc:  # a manifest refused (a forged entry name): say so, list nothing through it
            self.summary_label.setText(str(exc.issues[0]))
            self.summary_label.setToolTip(str(exc))
            self._show([])
            return
        self.summary_label.setText(summary)
        self.summary_label.setToolTip(self.summary_label.text())
        records = []
        for name, entry, problem in listed:
            full = problem is None and (self.folder / name).stat().st_size <= HASH_LIMIT
            if full:
                problem = self._full_check(self.folder / name, entry)
            records.append({"file": name, "entry": entry, "problem": problem,
                            "cells": cells(name, entry, problem, full=full or problem is not None)})
        self._show(records)

    def _full_check(self, path: Path, entry: dict[str, Any] | None) -> str | None:
        stat = path.stat()
        key = (stat.st_size, stat.st_mtime_ns, (entry or {}).get("checksum"))
        known = self._checked.get(path)
        if known is None or known[0] != key:
            known = self._checked[path] = (key, verify_file(path, entry))
        return known[1]

    def _show(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.table.setRowCount(len(records))
        if records:
            columns = list(records[0]["cells"])
            self.table.setColumnCount(len(columns))
            self.table.setHorizontalHeaderLabels(columns)
        for r, record in enumerate(records):
            for c, (column, text) in enumerate(record["cells"].items()):
                item = QtWidgets.QTableWidgetItem(text)
                if column == "verified" and text.startswith("✗"):
                    item.setForeground(QtGui.QBrush(QtGui.QColor("#d9534f")))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.refreshed.emit()

    def _need(self, count: int = 1) -> list[Path]:
        if not self._folder_needed():
            return []
        chosen = self.selected()
        if len(chosen) < count:
            self.say(f"Select {'a checkpoint' if count == 1 else f'{count} or more checkpoints'} in the table first"
                     + (" (Ctrl+click to add one)." if count > 1 else "."))
            return []
        return chosen

    def verify(self) -> None:
        if not self._folder_needed():
            return
        chosen = self.selected()
        targets = [str(p) for p in chosen] or ([str(self.folder)] if self.folder else [])
        for target in targets:
            self._tool(["ckpt", "verify", target])

    def compare(self) -> None:
        chosen = self._need(2)
        if chosen:
            self._tool(["ckpt", "compare", *map(str, chosen)])

    def export(self) -> None:
        """The Export dialog (ONNX, TorchScript, a copy, safetensors); its result also goes to the console."""
        chosen = self._need()
        if not chosen:
            return
        if self._export is not None and self._export.run_button.isEnabled():
            self._export.deleteLater()  # an earlier dialog with no export running
        self._export = ExportDialog(chosen[0], self.run_dir, self)
        self._export.exported.connect(lambda code, text: self._print(code, text, ""))
        self._export.open()

    def delete(self) -> None:
        chosen = self._need()
        if not chosen:
            return
        names = "\n".join(p.name for p in chosen)
        answer = QtWidgets.QMessageBox.question(self, "Delete checkpoints", f"Delete these files for good?\n\n{names}")
        if answer == QtWidgets.QMessageBox.StandardButton.Yes:
            for path in chosen:
                self._tool(["ckpt", "delete", str(path)], lambda c, o, e: (self._print(c, o, e), self.refresh()))

    def edit_tags(self) -> None:
        chosen = self._need()
        record = next((r for r in self.records if chosen and r["file"] == chosen[0].name), None)
        if record is None or record["entry"] is None:
            if chosen:
                self.say(f"{chosen[0].name}: no manifest entry, so no tags (NodeFlow did not write it).")
            return
        dialog = TagsDialog(record["file"], record["entry"], self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted and dialog.tag_args():
            self._tool(["ckpt", "tag", str(chosen[0]), *dialog.tag_args()],
                       lambda c, o, e: (self._print(c, o, e), self.refresh()))

    def curves(self) -> None:
        if not self._folder_needed():
            return
        out = Path(tempfile.mkdtemp(prefix="nodeflow-")) / "curves.png"
        self._tool(["ckpt", "plot", str(self.folder), "-o", str(out)],
                   lambda c, o, e: self._show_curves(out) if c == 0 else self._print(c, o, e))

    def _show_curves(self, png: Path) -> None:
        dialog = QtWidgets.QDialog(self)
        dialog.setObjectName("curves_dialog")
        dialog.setWindowTitle(f"Curves — {self.folder}")
        label = QtWidgets.QLabel(dialog)
        label.setPixmap(QtGui.QPixmap(str(png)))
        QtWidgets.QVBoxLayout(dialog).addWidget(label)
        dialog.show()

    def resume(self) -> None:
        chosen = self._need()
        if chosen:
            self.resume_requested.emit(str(chosen[0].resolve()))

    def infer(self) -> None:
        chosen = self._need()
        if chosen:
            self.inference_requested.emit(str(chosen[0].resolve()))

    def open_workflow(self) -> None:
        """The graph that made the checkpoint, read from the file alone (`ckpt workflow`)."""
        chosen = self._need()
        if chosen:
            path = str(chosen[0].resolve())
            self._tool(["ckpt", "workflow", path],
                       lambda c, o, e: self.workflow_found.emit(o, path) if c == 0 else self._print(c, o, e))
