"""The Run panel's Sweep tab: `nodeflow sweep … --events jsonl` in a child process (like a run:
the editor never blocks and a crash there cannot take it down), its trials in a table as they end,
the plots it writes when it finishes (a click on one opens it large), and the best params applied to the
graph as one undoable edit. Double-clicking a trial's row opens its run in the Runs tab.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from nodeflow.core.params import coerce
from nodeflow.gui.graph import PARAM_PREFIX, spec_of
from nodeflow.gui.runner import RunProcess
from nodeflow.gui.tables import record_table

if TYPE_CHECKING:
    from nodeflow.gui.window import MainWindow

COLUMNS = ("trial", "state", "value", "params", "time")


class SweepProcess(RunProcess):
    """RunProcess's event reading, for `nodeflow sweep`."""

    def start_sweep(self, args: list[str], cwd: Path) -> None:
        self.launch(["sweep", *args, "--events", "jsonl"], cwd)


class SweepPanel(QtWidgets.QWidget):
    @classmethod
    def of(cls, window: MainWindow) -> SweepPanel:
        """The window's Sweep tab, added to the Run panel the first time."""
        tabs = window.runs.panel.tabs
        panel = window.findChild(SweepPanel)
        if panel is None:
            panel = cls(window)
            tabs.addTab(panel, "Sweep")
        tabs.setCurrentWidget(panel)
        return panel

    def __init__(self, window: MainWindow):
        super().__init__(window.runs.panel)
        self.setObjectName("sweep_panel")
        self.window_ = window
        self.trials: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.finished = False
        self.workflow: Path | None = None  # the file this sweep searches: only its graph takes the best params
        self.process = SweepProcess(self)
        self.process.event.connect(self._event)
        self.process.output.connect(lambda text: self.status.setText(text))
        self.process.ended.connect(self._ended)
        self.status = QtWidgets.QLabel("", self)
        self.status.setObjectName("sweep_status")
        self.status.setWordWrap(True)
        self.table = record_table("sweep_table", COLUMNS, self)
        self.table.cellDoubleClicked.connect(lambda row, _: self.open_run(row))
        self.table.setToolTip("Double-click a trial to open its run in the Runs tab")
        self.apply = QtWidgets.QPushButton("Apply best params", self)
        self.apply.setObjectName("sweep_apply")
        self.apply.setEnabled(False)
        self.apply.clicked.connect(self.apply_best)
        self.stop = QtWidgets.QPushButton("Stop", self)
        self.stop.setObjectName("sweep_stop")
        self.stop.clicked.connect(lambda: self.process.stop())
        self.stop.setEnabled(False)
        self.plots = [QtWidgets.QLabel(self) for _ in range(2)]
        self.pixmaps: list[QtGui.QPixmap] = []
        self.files: list[Path] = []  # the plots' PNG files, as self.pixmaps
        for label, name in zip(self.plots, ("sweep_history", "sweep_parallel")):
            label.setObjectName(name)
            label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            # a picture never asks for room: the tab must not grow the main window past the screen
            label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored)
            label.setMinimumSize(0, 0)
            label.installEventFilter(self)
        self.enlarged: PlotView | None = None
        self.table.setMinimumSize(0, 0)
        self.table.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.apply)
        row.addWidget(self.stop)
        pictures = QtWidgets.QHBoxLayout()
        for label in self.plots:
            pictures.addWidget(label, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addLayout(pictures, 1)

    def start(self, workflow: Path, params: list[str], trials: int, metric: str, pruner: str,
              study: str = "") -> None:
        """`trials`: the study's total after this sweep (what it holds plus the trials to add)."""
        self.trials, self.best, self.finished, self.pixmaps, self.files = [], None, False, [], []
        self.workflow = Path(workflow).resolve()
        self.table.setRowCount(0)
        self.apply.setEnabled(False)
        self.stop.setEnabled(True)
        for label in self.plots:
            label.clear()
        args = [str(workflow), *[x for p in params for x in ("--param", p)], "--trials", str(trials),
                "--metric", metric, "--pruner", pruner, *(["--study", study] if study else [])]
        self.status.setText(f"Sweep of {workflow.name} starting…")
        self.window_.runs.panel.status.setText("Sweep running: see the Sweep tab")
        self.window_.runs.panel.progress.setValue(0)  # the bar is the last run's, not the sweep's
        self.process.start_sweep(args, self.window_.run_dir)

    def _event(self, e: dict[str, Any]) -> None:
        kind = e.get("event")
        if kind == "sweep_start":
            self.folder = Path(self.window_.run_dir) / e["dir"]
            self.status.setText(f"Study '{e['study']}': {e['trials']} trials, {e['direction']} {e['metric']}")
        elif kind == "trial_start":
            self.status.setText(f"Trial {e['trial']} running…")
        elif kind == "trial_end":
            self.trials.append(e)
            self._row(e)
        elif kind == "sweep_end":
            self.best = {"trial": e.get("best_trial"), "params": e.get("best_params") or {},
                         "value": e.get("best_value")}
            self.apply.setEnabled(e.get("best_trial") is not None and self.mine())
            if e.get("trials"):  # the study's every trial, the earlier sweeps' as well
                self.trials = list(e["trials"])
                self.table.setRowCount(0)
                for trial in self.trials:
                    self._row(trial)
            value = e.get("best_value")
            params = ", ".join(f"{k}={shown(v)}" for k, v in self.best["params"].items())
            self.status.setText(f"Best: trial {e.get('best_trial')}, {e.get('metric', 'value')} {value:.4g}"
                                + (f" ({params})" if params else "")
                                if isinstance(value, (int, float)) else "No trial completed")
            self._pictures(e.get("files") or [])

    def _row(self, e: dict[str, Any]) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        value = e.get("value")
        cells = (str(e["trial"]), e["state"], "" if value is None else f"{value:.4g}",
                 ", ".join(f"{k}={shown(v)}" for k, v in e["params"].items()),
                 f"{e.get('seconds') or 0:.1f} s")
        for c, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(text)
            item.setToolTip(e.get("error") or e.get("last_checkpoint") or "")
            self.table.setItem(row, c, item)
        self.table.resizeColumnsToContents()

    def _pictures(self, files: list[str]) -> None:
        pngs = [Path(self.window_.run_dir) / f for f in files if f.endswith(".png")]
        self.pixmaps, self.files = [QtGui.QPixmap(str(path)) for path in pngs], pngs
        for label, path in zip(self.plots, pngs):
            label.setToolTip(f"{path}\nClick to enlarge")
            label.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        self._fit_pictures()

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        """A left click on a plot opens it large."""
        if event.type() == QtCore.QEvent.Type.MouseButtonRelease and watched in self.plots \
                and isinstance(event, QtGui.QMouseEvent) and event.button() == QtCore.Qt.MouseButton.LeftButton:
            index = self.plots.index(watched)  # type: ignore[arg-type]
            if index < len(self.pixmaps) and not self.pixmaps[index].isNull():
                self.enlarge(index)
                return True
        return super().eventFilter(watched, event)

    def enlarge(self, index: int) -> PlotView:
        """Plot `index` in a dialog that fits the screen (Esc closes it)."""
        if self.enlarged is not None:
            self.enlarged.close()
        self.enlarged = PlotView(self.pixmaps[index], self.files[index].name, self)
        self.enlarged.open()
        return self.enlarged

    def _fit_pictures(self) -> None:
        """Each plot scaled into the room its label has now."""
        for label, pixmap in zip(self.plots, self.pixmaps):
            size = label.size().boundedTo(pixmap.size())
            if size.width() > 1 and size.height() > 1:
                label.setPixmap(pixmap.scaled(size, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                                              QtCore.Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_pictures()

    def _ended(self, code: int, text: str) -> None:
        self.finished = True
        self.stop.setEnabled(False)
        if code != 0:
            self.status.setText(f"{self.status.text()}  ({text.replace('run', 'sweep')})")
        runs = self.window_.runs
        if not runs.process.running():
            runs.panel.status.setText("Sweep finished: see the Sweep tab" if code == 0 else "Sweep stopped")

    def mine(self) -> bool:
        """Whether the workflow open now is the one this sweep searched."""
        path = self.window_.meta.path
        return self.workflow is not None and path is not None and Path(path).resolve() == self.workflow

    def open_run(self, row: int) -> None:
        """The trial's run, selected in the Runs tab (every run listed, so a trial's is there)."""
        run_id = self.trials[row].get("run_id") if row < len(self.trials) else None
        runs = self.window_.runs.panel.runs
        runs.all_runs.setChecked(True)
        self.window_.runs.panel.tabs.setCurrentWidget(runs)
        runs.refresh()
        for r, record in enumerate(runs.runs):
            if record["id"] == run_id:
                runs.table.selectRow(r)
                return

    def apply_best(self) -> None:
        """The best trial's params set on the graph's nodes: one step on the undo stack."""
        if not self.best:
            return
        if not self.mine():
            self.status.setText(f"These params are for {self.workflow.name if self.workflow else 'another workflow'}"
                                "; open it to apply them")
            return
        graph = self.window_.graph
        nodes = {n.name(): n for n in graph.all_nodes()}
        graph.undo_stack().beginMacro(f"Apply sweep trial {self.best['trial']}")
        for name, value in self.best["params"].items():
            node_name, _, field = name.rpartition(".")
            node = nodes.get(node_name)
            spec = spec_of(node) if node is not None else None
            param = spec.param(field) if spec else None
            if param is not None:
                node.set_property(PARAM_PREFIX + field, coerce(param, value, from_text=isinstance(value, str)))
        graph.undo_stack().endMacro()


class PlotView(QtWidgets.QDialog):
    """One sweep plot, large: scaled to 90% of the screen's width or height (never past it), its aspect
    ratio kept; the window can be resized, the picture follows."""

    def __init__(self, pixmap: QtGui.QPixmap, title: str, parent: QtWidgets.QWidget):
        super().__init__(parent)
        self.setObjectName("sweep_plot_view")
        self.setWindowTitle(title)
        self.pixmap = pixmap
        self.picture = QtWidgets.QLabel(self)
        self.picture.setObjectName("sweep_plot_picture")
        self.picture.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.picture)
        screen = (parent.screen() or QtGui.QGuiApplication.primaryScreen()).availableGeometry()
        room = QtCore.QSize(screen.width() * 9 // 10 - 8, screen.height() * 9 // 10 - 40)  # the title bar's room
        size = pixmap.size().scaled(room, QtCore.Qt.AspectRatioMode.KeepAspectRatio)  # up or down
        self.resize(size.width() + 8, size.height() + 8)
        self.move(screen.center() - self.rect().center())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self.picture.setPixmap(self.pixmap.scaled(self.picture.size(), QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                                                  QtCore.Qt.TransformationMode.SmoothTransformation))


def shown(value: Any) -> str:
    """A param value as the table shows it: floats (learning rates) to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def workflow_changed(window: MainWindow) -> None:
    """Another workflow is open (File > Open, New): a finished sweep's tab goes; a running one stays,
    naming its own workflow, and gives its best params only to that workflow."""
    panel = window.findChild(SweepPanel)
    if panel is None:
        return
    if panel.process.running():
        panel.apply.setEnabled(panel.best is not None and panel.mine())
        if not panel.mine():
            name = panel.workflow.name if panel.workflow else "another workflow"
            panel.status.setText(f"Sweep of {name} (not the workflow open now) still running")
        return
    tabs = window.runs.panel.tabs
    if tabs.currentWidget() is panel:
        tabs.setCurrentWidget(window.runs.panel.console)
    tabs.removeTab(tabs.indexOf(panel))
    panel.setParent(None)
    panel.deleteLater()
