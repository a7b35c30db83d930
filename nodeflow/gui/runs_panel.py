"""The Runs tab: every recorded run (the run index, read as JSON in this process); select two or
more to see their curves overlaid and a table of the params that differ and the final metrics."""
from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6 import QtCore, QtWidgets

from nodeflow.runs import compare_table, final_metrics, load_runs

COLUMNS = ("run", "status", "started", "workflow", "result")


class RunsPanel(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.runs: list[dict[str, Any]] = []
        self.table = self._table("runs_table", COLUMNS)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.itemSelectionChanged.connect(self.show_selected)
        self.diff = self._table("runs_diff", ())
        self.figure = Figure(figsize=(5, 2.4))
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setObjectName("runs_curves")
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.86, wspace=0.22)
        self.axes = {"loss": self.figure.add_subplot(1, 2, 1), "accuracy": self.figure.add_subplot(1, 2, 2)}
        refresh = QtWidgets.QPushButton("Refresh", self)
        refresh.setObjectName("runs_refresh")
        refresh.clicked.connect(self.refresh)
        hint = QtWidgets.QLabel("Select two or more runs to compare them.", self)
        left = QtWidgets.QWidget(self)
        column = QtWidgets.QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(refresh)
        row.addWidget(hint, 1)
        column.addLayout(row)
        column.addWidget(self.table, 1)
        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, self)
        right.addWidget(self.canvas)
        right.addWidget(self.diff)
        split = QtWidgets.QSplitter(self)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([420, 800])
        QtWidgets.QVBoxLayout(self).addWidget(split)

    def _table(self, name: str, columns: tuple[str, ...]) -> QtWidgets.QTableWidget:
        table = QtWidgets.QTableWidget(0, len(columns), self)
        table.setObjectName(name)
        table.setHorizontalHeaderLabels(list(columns))
        table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def refresh(self) -> None:
        self.runs = list(reversed(load_runs()))  # newest first
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.runs))
        for r, run in enumerate(self.runs):
            metrics = final_metrics(run)
            result = next((f"{k} {v:.4f}" for k, v in metrics.items() if k.endswith((".accuracy", ".r2"))
                           and isinstance(v, float)), "")
            cells = (run["id"], run.get("status", "?"), run.get("started", ""),
                     str(run.get("workflow", "")).rsplit("/", 1)[-1], result)
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.blockSignals(False)
        self.show_selected()

    def selected(self) -> list[dict[str, Any]]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.runs[r] for r in rows if r < len(self.runs)]

    def show_selected(self) -> None:
        records = self.selected()
        self._plot(records)
        rows = compare_table(records) if records else []
        self.diff.clear()
        self.diff.setColumnCount(1 + len(records))
        self.diff.setHorizontalHeaderLabels(["", *(r["id"] for r in records)])
        self.diff.setRowCount(len(rows))
        for r, (label, cells) in enumerate(rows):
            for c, text in enumerate((label, *cells)):
                self.diff.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self.diff.resizeColumnsToContents()

    def _plot(self, records: list[dict[str, Any]]) -> None:
        for kind, axes in self.axes.items():
            axes.clear()
            axes.set_title(kind.capitalize(), fontsize=9)
            axes.set_xlabel("epoch", fontsize=8)
            axes.tick_params(labelsize=7)
            axes.grid(alpha=0.3)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            for record in records:
                for node, curves in (record.get("history") or {}).items():
                    for key in (f"train_{kind}", f"val_{kind}"):
                        values = curves.get(key) or []
                        if values:
                            axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3,
                                      linestyle="-" if key.startswith("val") else "--",
                                      label=f"{record['id'][-4:]} {node} {key.split('_')[0]}")
            if axes.lines:
                axes.legend(fontsize=6)
        self.canvas.draw_idle()
