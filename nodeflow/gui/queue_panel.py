"""The Queue tab: the runs of the persistent queue ($NODEFLOW_HOME/queue/queue.db, read in this process
as SQLite; nothing is unpickled), re-read every second while the tab is shown. Its buttons do what
`nodeflow queue move|cancel|pause|resume` do, through the same functions (nodeflow.queue.actions);
a Slurm run's state is asked of Slurm in a background thread, never in the GUI's."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

from nodeflow.core import UserError
from nodeflow.gui.tables import record_table
from nodeflow.queue.actions import act
from nodeflow.queue.store import FINAL, WAITING, Queue, Row, home

if TYPE_CHECKING:
    from nodeflow.gui.run_panel import RunPanel

COLUMNS = ("id", "workflow", "state", "device / Slurm job", "attempts", "submitted", "note")
POLL_MS = 1000  # how often a shown Queue tab reads the queue again
SLURM_EVERY = 15.0  # seconds between asking Slurm about the runs it holds


def where(row: Row) -> str:
    if row.target == "slurm":
        return f"Slurm job {row.job_id}" if row.job_id else "Slurm (not submitted)"
    return row.slot or row.device or "any"


def cells(row: Row) -> tuple[str, ...]:
    state = row.state + (f" ({row.wanted} asked)" if row.wanted else "")
    submitted = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.submitted))
    note = (row.reason if row.reason != row.state else "") or \
        (f"recorded as run {row.run_ids[-1]}" if row.run_ids else "")
    return (str(row.id), Path(row.workflow).name, state, where(row), str(row.attempts), submitted, note)


def refresh_slurm(path: Path) -> None:
    """Bring the Slurm runs' states up to date (scontrol, the jobs' result files): run in a thread,
    with its own connection; the tab sees the changes at its next read."""
    from nodeflow.queue import slurm

    queue = Queue(path)
    try:
        for row in queue.rows():
            if row.target == "slurm" and row.state not in FINAL:
                slurm.refresh(queue, row)
    except UserError:
        pass  # the tab's own read says what is wrong with the file
    finally:
        queue.close()


class QueuePanel(QtWidgets.QWidget):
    def __init__(self, panel: RunPanel):
        super().__init__(panel)
        self.setObjectName("queue_panel")
        self.panel = panel
        self.queue: Queue | None = None
        self.rows: list[Row] = []
        self.shown: list[tuple[str, ...]] = []  # what the table shows, to redraw only on a change
        self.slurm_thread: threading.Thread | None = None
        self.slurm_asked = 0.0
        self.table = record_table("queue_table", COLUMNS, self)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()  # each column as wide as its text, the note the rest
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.status = QtWidgets.QLabel("", self)  # what the last button did, or why nothing was done
        self.status.setObjectName("queue_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table.itemSelectionChanged.connect(lambda: self.status.setText(""))
        buttons = QtWidgets.QHBoxLayout()
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        for name, text, slot, tip in (
                ("up", "Move up", lambda: self.move_by(-1), "Run it earlier (queued or paused runs)"),
                ("down", "Move down", lambda: self.move_by(1), "Run it later (queued or paused runs)"),
                ("cancel", "Cancel", lambda: self.do("cancel"), "A waiting run is cancelled; a running one "
                                                                "stops at an interrupt checkpoint"),
                ("pause", "Pause", lambda: self.do("pause"), "It waits until resumed; a running one stops at an "
                                                            "interrupt checkpoint"),
                ("resume", "Resume", lambda: self.do("resume"), "Queue a paused run again, at its place"),
                ("open", "Open in Runs", self.open_in_runs, "Show the run it recorded in the Runs tab")):
            button = QtWidgets.QPushButton(text, self)
            button.setObjectName(f"queue_{name}")
            button.setToolTip(tip)
            button.clicked.connect(lambda *_, s=slot: s())
            buttons.addWidget(button)
            self.buttons[name] = button
        self.note = QtWidgets.QLabel("", self)  # the queue's file; how to run what waits
        self.note.setObjectName("queue_note")
        self.note.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        buttons.addWidget(self.note, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def showEvent(self, event: object) -> None:
        super().showEvent(event)  # type: ignore[arg-type]
        self.refresh()

    def poll(self) -> None:
        if self.isVisible() and self.refresh() and self.status.text() and not self.status.text().startswith(
                ("Select a run", "Not queued")):
            self.status.setText("")  # a worker or the command line changed the queue: that line is old news

    def open_queue(self) -> Queue:
        """The queue of $NODEFLOW_HOME now (one connection, opened again when the home changes)."""
        path = home() / "queue" / "queue.db"
        if self.queue is None or self.queue.path != path:
            if self.queue is not None:
                self.queue.close()
            self.queue = Queue(path)
        return self.queue

    def refresh(self) -> bool:
        """Read the queue again; whether the table changed."""
        try:
            queue = self.open_queue()
            rows = queue.rows()
        except UserError as exc:
            self.status.setText(str(exc))
            return False
        waiting = sum(1 for r in rows if r.state == "queued")
        self.note.setText(f"{len(rows)} run(s), {waiting} waiting for `nodeflow worker`" if rows else
                          "Empty: Run > Add to queue (Ctrl+Shift+Enter) adds the open workflow")
        self.note.setToolTip(str(queue.path))
        shown = [cells(r) for r in rows]
        changed = shown != self.shown
        if changed:
            self._fill(rows, shown)
        if any(r.target == "slurm" and r.state not in FINAL for r in rows):
            self._ask_slurm(queue.path)
        return changed

    def _fill(self, rows: list[Row], shown: list[tuple[str, ...]]) -> None:
        chosen = self.selected()
        self.rows, self.shown = rows, shown
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for r, (row, texts) in enumerate(zip(rows, shown)):
            for c, text in enumerate(texts):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(row.workflow if c == 1 else text)
                self.table.setItem(r, c, item)
        if chosen is not None:
            self.select(chosen.id)  # the same run, wherever it moved; the line above the list stays
        self.table.blockSignals(False)

    def _ask_slurm(self, path: Path) -> None:
        if self.slurm_thread is not None and self.slurm_thread.is_alive() or \
                time.monotonic() - self.slurm_asked < SLURM_EVERY:
            return
        self.slurm_asked = time.monotonic()
        self.slurm_thread = threading.Thread(target=refresh_slurm, args=(path,), daemon=True)
        self.slurm_thread.start()

    def select(self, run_id: int) -> None:
        for r, row in enumerate(self.rows):
            if row.id == run_id:
                self.table.selectRow(r)
                self.table.scrollToItem(self.table.item(r, 0))

    def selected(self) -> Row | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self.rows[min(rows)] if rows and min(rows) < len(self.rows) else None

    def _chosen(self, what: str) -> Row | None:
        row = self.selected()
        if row is None:
            self.status.setText(f"Select a run in the list first, then {what}.")
        return row

    def do(self, action: str, position: int | None = None) -> None:
        """`nodeflow queue ACTION ID [POSITION]` on the selected run; its line (or its refusal) shows above the list."""
        row = self._chosen({"move": "move it"}.get(action, f"{action} it"))
        if row is None:
            return
        try:
            queue = self.open_queue()
            self.status.setText(act(queue, queue.get(row.id), action, position))
        except UserError as exc:
            self.status.setText(str(exc))
        self.refresh()

    def move_by(self, step: int) -> None:
        row = self._chosen("move it")
        if row is None:
            return
        waiting = [r.id for r in self.rows if r.state in WAITING]
        if row.id not in waiting:
            self.status.setText(f"run {row.id} is {row.state}; only queued or paused runs move")
            return
        place = waiting.index(row.id) + 1 + step
        if not 1 <= place <= len(waiting):
            self.status.setText(f"run {row.id} is already {'first' if step < 0 else 'last'} in line")
            return
        self.do("move", place)

    def open_in_runs(self) -> None:
        """The run it recorded, selected in the Runs tab (ticking All runs when it is another workflow's)."""
        row = self._chosen("open it in Runs")
        if row is None:
            return
        if not row.run_ids:
            self.status.setText(f"run {row.id} is {row.state}: it has recorded no run yet" +
                                (" (Open in Runs is for a finished run)" if row.state not in FINAL else ""))
            return
        runs, wanted = self.panel.runs, row.run_ids[-1]
        self.panel.tabs.setCurrentWidget(runs)
        found = [i for i, run in enumerate(runs.runs) if run["id"] == wanted]
        if not found and not runs.all_runs.isChecked():
            runs.all_runs.setChecked(True)  # refreshes the list
            found = [i for i, run in enumerate(runs.runs) if run["id"] == wanted]
        if found:
            runs.table.clearSelection()
            runs.table.selectRow(found[0])
            runs.table.scrollToItem(runs.table.item(found[0], 0))
        else:
            runs.note.setText(f"run {wanted} (queue run {row.id}) is not in the run index any more")
