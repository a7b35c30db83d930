"""The Runs tab: the runs of the open workflow file (the run index, read as JSON in this process),
or every run on this machine with "All runs"; select two or more to see their curves overlaid (the
training loss by optimizer step with validation points, loss and accuracy by epoch) and a table of
the params that differ and the final metrics."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from PySide6 import QtCore, QtWidgets

from nodeflow.gui.tables import record_table
from nodeflow.runs import compare_table, final_metrics, load_runs

COLUMNS = ("run", "status", "started", "workflow", "folder", "result")


def workflow_of(run: dict[str, Any]) -> Path | None:
    """The workflow file a run was started from (the index records it resolved)."""
    text = run.get("workflow")
    return Path(text) if isinstance(text, str) and text else None


def folder_text(folder: Path) -> str:
    home = Path.home()
    return f"~/{folder.relative_to(home)}" if folder.is_relative_to(home) and folder != home else str(folder)


class RunsPanel(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.runs: list[dict[str, Any]] = []
        self.workflow: Path | None = None  # the open file; its runs are listed unless "All runs" is ticked
        self.table = record_table("runs_table", COLUMNS, self)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.itemSelectionChanged.connect(self.show_selected)
        self.table.setToolTip("Select two or more runs to compare them")
        self.diff = record_table("runs_diff", (), self, rows=3)
        self.figure = Figure(figsize=(5, 2.4))
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setObjectName("runs_curves")
        self.canvas.setMinimumHeight(190)  # the run dock grows to it when the tab is shown (at 120 px: slivers)
        self.figure.subplots_adjust(left=0.06, right=0.84, bottom=0.21, top=0.88, wspace=0.22)  # legend: right
        grid = self.figure.add_gridspec(1, 3, width_ratios=(2, 1, 1))
        self.step_axes = self.figure.add_subplot(grid[0])  # loss by step, from the records' train_step points
        self.axes = {"loss": self.figure.add_subplot(grid[1]), "accuracy": self.figure.add_subplot(grid[2])}
        refresh = QtWidgets.QPushButton("Refresh", self)
        refresh.setObjectName("runs_refresh")
        refresh.clicked.connect(self.refresh)
        self.all_runs = QtWidgets.QCheckBox("All runs", self)
        self.all_runs.setObjectName("runs_all")
        self.all_runs.setToolTip("Every run recorded on this machine, not only those of the open workflow file")
        self.all_runs.toggled.connect(self.refresh)
        self.note = QtWidgets.QLabel("", self)  # whose runs are listed; select two or more to compare
        self.note.setObjectName("runs_note")
        self.note.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        left = QtWidgets.QWidget(self)
        column = QtWidgets.QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(refresh)
        row.addWidget(self.all_runs)
        row.addWidget(self.note, 1)
        column.addLayout(row)
        column.addWidget(self.table, 1)
        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, self)
        right.addWidget(self.canvas)
        right.addWidget(self.diff)
        split = QtWidgets.QSplitter(self)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([520, 700])
        QtWidgets.QVBoxLayout(self).addWidget(split)

    def set_workflow(self, path: Path | None) -> None:
        """The workflow file now open (None: not saved yet); the list follows it when shown."""
        self.workflow = path.resolve() if path is not None else None
        if self.isVisible():
            self.refresh()

    def _listed(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.all_runs.isChecked():
            return runs
        return [r for r in runs if self.workflow is not None and workflow_of(r) is not None
                and workflow_of(r).resolve() == self.workflow]

    def _note(self, shown: int, total: int) -> str:
        if self.all_runs.isChecked():
            return f"all {total} run(s) on this machine"
        if self.workflow is None:
            return f"not saved yet: no runs ({total} in all)"
        return f"{self.workflow.name}: {shown} of {total} run(s)"

    def refresh(self) -> None:
        chosen = {r["id"] for r in self.selected()}
        every = list(reversed(load_runs()))  # newest first
        self.runs = self._listed(every)
        self.note.setText(self._note(len(self.runs), len(every)))
        self.note.setToolTip(str(self.workflow or ""))
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(self.runs))
        for r, run in enumerate(self.runs):
            metrics = final_metrics(run)
            result = next((f"{k} {v:.4f}" for k, v in metrics.items() if k.endswith((".accuracy", ".r2"))
                           and isinstance(v, float)), "")
            workflow = workflow_of(run)
            cells = (run["id"], run.get("status", "?"), run.get("started", ""),
                     workflow.name if workflow else "", folder_text(workflow.parent) if workflow else "", result)
            tip = "\n".join([str(workflow or "no workflow file recorded"),
                             *(f"{node}: checkpoints in {folder}" for node, folder in
                               (run.get("checkpoints") or {}).items())])
            for c, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(tip)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self._select([r for r, run in enumerate(self.runs) if run["id"] in chosen])
        self.table.blockSignals(False)
        self.show_selected()

    def _select(self, rows: list[int]) -> None:
        """Keep the runs that were selected selected, wherever a refresh moved them."""
        model, flags = self.table.selectionModel(), QtCore.QItemSelectionModel.SelectionFlag
        for row in rows:
            model.select(self.table.model().index(row, 0), flags.Select | flags.Rows)

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
        """The selected runs' curves, a colour per run and Trainer in every panel, named once in a
        legend beside the panels (inside one, it sat over the lines)."""
        colors = {(r["id"], node): f"C{i % 10}" for i, (r, node) in enumerate(
            (r, node) for r in records for node in {**(r.get("steps") or {}), **(r.get("history") or {})})}
        self._plot_steps(records, colors)
        for kind, axes in self.axes.items():
            axes.clear()
            axes.set_title(f"{kind.capitalize()} by epoch", fontsize=9)
            axes.set_xlabel("epoch", fontsize=8)
            axes.tick_params(labelsize=7)
            axes.grid(alpha=0.3)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            for record in records:
                for node, curves in (record.get("history") or {}).items():
                    first = (record.get("first_epoch") or {}).get(node, 1)
                    for key in (f"train_{kind}", f"val_{kind}"):
                        values = curves.get(key) or []
                        if values:
                            axes.plot(range(first, first + len(values)), values, marker="o", markersize=3,
                                      linestyle="-" if key.startswith("val") else "--",
                                      color=colors[record["id"], node])
        for legend in list(self.figure.legends):
            legend.remove()
        if colors:
            handles = [Line2D([], [], color=color, label=f"{run[-4:]} {node}") for (run, node), color in colors.items()]
            handles += [Line2D([], [], color="grey", linestyle=style, label=kind)
                        for style, kind in (("-", "val"), ("--", "train"))]
            self.figure.legend(handles=handles, loc="center right", fontsize=6, frameon=False)
        self.canvas.draw_idle()

    def _plot_steps(self, records: list[dict[str, Any]], colors: dict[tuple[str, str], str]) -> None:
        """Each run's training loss by step, a line per Trainer, its validation loss as points in that colour."""
        axes = self.step_axes
        axes.clear()
        axes.set_title("Loss by step", fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        for record in records:
            for node, curves in (record.get("steps") or {}).items():
                if not isinstance(curves, dict) or not curves.get("train_loss"):
                    continue
                steps, losses = zip(*curves["train_loss"])
                axes.plot(steps, losses, linewidth=1, color=colors[record["id"], node],
                          label=f"{record['id'][-4:]} {node}")
                if curves.get("val_loss"):
                    at, values = zip(*curves["val_loss"])
                    axes.plot(at, values, "o", markersize=3, color=colors[record["id"], node])
        if not axes.lines and records:
            axes.text(0.5, 0.5, "runs recorded before per-step curves\nhave none", ha="center", va="center",
                      fontsize=7, color="grey", transform=axes.transAxes)
