"""The main window: palette, canvas, properties, run panel; File, Edit, View, Run and Help menus."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from nodeflow.core import Registry, UserError, Workflow, load_workflow, save_workflow
from nodeflow.core.workflow import dumps, parse_workflow
from nodeflow.gui.node_search import CanvasSearch
from nodeflow.gui import editing, help_menu, submit_dialog, sweep_dialog, sweep_panel
from nodeflow.gui.banner import Banner, fitting_size
from nodeflow.gui.convert import add_workflow, preflight, to_workflow
from nodeflow.gui.graph import ID_PROP, FlowGraph, spec_of
from nodeflow.gui.palette import Palette
from nodeflow.gui.properties import PropertiesPanel
from nodeflow.gui.run_control import RunControl
from nodeflow.gui.run_guard import RunGuard
from nodeflow.gui.runner import abandon_tools

EXAMPLES = Path(__file__).resolve().parents[2] / "workflows"
MAX_RECENT = 8
RUN_PAGE_MIN_HEIGHT = 120  # the least height a run dock tab asks for, whatever its page holds


class MainWindow(QtWidgets.QMainWindow):
    """`run_dir` is where runs execute and output folders resolve: the editor's working directory."""

    def __init__(self, registry: Registry, settings: QtCore.QSettings, run_dir: Path):
        super().__init__()
        self.registry, self.settings, self.run_dir = registry, settings, run_dir
        self.meta = Workflow(name="untitled")
        self.disk_text = ""  # what the file held when we last loaded or saved it
        self.add_pos: QtCore.QPointF | None = None  # where Tab was pressed on the canvas
        self.graph = FlowGraph(registry, self)
        self.graph.search = CanvasSearch(self.graph)  # a link dropped on nothing, a double-click on nothing: add a node
        self.undo = self.graph.undo_stack()
        viewer = self.graph.viewer()  # its own undo/redo copies on the Edit menu's keys made both ambiguous: none ran
        for action in (viewer._undo_action, viewer._redo_action):
            action.setShortcuts([])
        self.banner = Banner(self)
        central = QtWidgets.QWidget(self)
        column = QtWidgets.QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.graph.widget, 1)
        self.setCentralWidget(central)
        self.hint = QtWidgets.QLabel("Empty canvas: drag a node from the Nodes list, press Tab to search,\n"
                                     "or open an example from File > Examples.", self.graph.viewer())
        self.hint.setObjectName("empty_hint")
        self.hint.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: #8a8a8a; font-size: 14px; background: transparent;")
        self.hint.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.palette = Palette(registry, self)
        self.properties = PropertiesPanel(self)
        self.runs = RunControl(self)
        self.guard = RunGuard(self)
        self._dock(self.palette, "Nodes", QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock(self.properties, "Properties", QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock(self.runs.panel, "Run", QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        self.watcher = QtCore.QFileSystemWatcher(self)
        self.watcher.fileChanged.connect(self._changed_on_disk)
        self._wire()
        self._menus()
        self.resize(*fitting_size(self))
        for page in (self.runs.panel.tabs.widget(i) for i in range(self.runs.panel.tabs.count())):
            # a tab's tallest page (Checkpoints: its buttons, table and library) must not set the dock's
            # least height: the canvas keeps most of a small screen, a page the dock squeezes scrolls or clips
            page.setMinimumHeight(min(page.minimumSizeHint().height(), RUN_PAGE_MIN_HEIGHT))
        self.docks_sized = False  # the docks' first sizes are set once the window is shown
        self._title()
        self._graph_changed()

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        """The docks' first sizes, set once the window's layout is live (before, the run dock kept the
        height its pages asked for): the run dock a third of the height at most, the canvas the rest."""
        super().showEvent(event)
        if not self.docks_sized:
            self.docks_sized = True
            QtCore.QTimer.singleShot(0, self._size_docks)

    def _size_docks(self) -> None:
        docks = [self.findChild(QtWidgets.QDockWidget, f"dock_{n}") for n in ("nodes", "properties", "run")]
        self.resizeDocks(docks[:2], [220, 300], QtCore.Qt.Orientation.Horizontal)
        self._fit_run_tab(min(300, self.height() // 3))
        self.runs.panel.tabs.currentChanged.connect(lambda *_: self._fit_run_tab())

    def _fit_run_tab(self, wanted: int = 0) -> None:
        """The run dock at `wanted` height (0: as it is), or taller where its tab needs more (Checkpoints:
        six rows of its tables); the canvas gets the rest."""
        dock, page = self.findChild(QtWidgets.QDockWidget, "dock_run"), self.runs.panel.tabs.currentWidget()
        if dock is None or page is None:
            return
        needs = dock.height() - page.height() + page.minimumSizeHint().height()
        height = max(wanted or dock.height(), needs)
        if height != dock.height():
            self.resizeDocks([dock], [height], QtCore.Qt.Orientation.Vertical)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self.hint.resize(self.graph.viewer().size())

    def _dock(self, widget: QtWidgets.QWidget, title: str, area: QtCore.Qt.DockWidgetArea) -> None:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)

    def _wire(self) -> None:
        g = self.graph
        g.node_created.connect(lambda node: editing.adopt(g, node))
        g.node_double_clicked.connect(self.edit_node)
        g.node_selection_changed.connect(lambda *_: self._selection())
        g.link_refused.connect(self._refused)
        g.field_refused.connect(self._refused)
        self.undo.cleanChanged.connect(lambda clean: self._title())
        self.undo.indexChanged.connect(lambda *_: self._graph_changed())
        g.tab_pressed.connect(self._tab_search)
        self.palette.chosen.connect(self.add_chosen)
        self.properties.edit_requested.connect(self.edit_node)
        self.properties.param_edited.connect(lambda node, name, value: editing.set_params(g, node, {name: value}))
        self.properties.dirs = self.dirs

    def _menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._act(file, "&New", self.new, QtGui.QKeySequence.StandardKey.New)
        self._act(file, "&Open…", self.open_dialog, QtGui.QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &Recent")
        examples = file.addMenu("&Examples")
        for path in sorted(EXAMPLES.glob("*.json")):
            self._act(examples, path.stem, lambda p=path: self.open_path(p))
        file.addSeparator()
        self._act(file, "&Save", self.save, QtGui.QKeySequence.StandardKey.Save)
        self._act(file, "Save &As…", self.save_as, QtGui.QKeySequence.StandardKey.SaveAs)
        file.addSeparator()
        self._act(file, "&Quit", self.close, QtGui.QKeySequence.StandardKey.Quit)
        edit = bar.addMenu("&Edit")
        self.guard.actions(edit)  # Undo and Redo: asking first when they would remove a node the run uses
        edit.addSeparator()
        self._act(edit, "&Copy", self.copy, QtGui.QKeySequence.StandardKey.Copy)
        self._act(edit, "&Paste", self.paste, QtGui.QKeySequence.StandardKey.Paste)
        self._act(edit, "&Delete", self.guard.delete, QtGui.QKeySequence.StandardKey.Delete)
        self._act(edit, "Select &All", self.select_all, QtGui.QKeySequence.StandardKey.SelectAll)
        edit.addSeparator()
        self._act(edit, "Edit &Parameters…", self.edit_selected, "Ctrl+E")
        self._act(edit, "Auto &Layout", lambda: editing.tidy(self.graph), "Ctrl+L")
        self._act(edit, "Add &Note (backdrop)", lambda: editing.add_backdrop(self.graph, "Note"), "Ctrl+B")
        view = bar.addMenu("&View")
        self._act(view, "&Fit to View", self.fit_view, "F")
        self._act(view, "Zoom &In", lambda: self.zoom(1), QtGui.QKeySequence.StandardKey.ZoomIn)
        self._act(view, "Zoom &Out", lambda: self.zoom(-1), QtGui.QKeySequence.StandardKey.ZoomOut)
        self._act(view, "&Actual Size", lambda: self.graph.reset_zoom(), "Ctrl+0")
        run = bar.addMenu("&Run")
        self._act(run, "&Validate", self.runs.validate, "F7")
        self._act(run, "&Check (one batch, nothing written)", self.runs.check, "F6")
        self._act(run, "&Run", self.runs.run, "F5")
        self._act(run, "Run to &Here (the selected node and what it needs)", self.runs.run_to_selected, "Ctrl+F5")
        self._act(run, "&Stop", self.runs.stop, "Shift+F5")
        self._act(run, "S&weep… (search params with Optuna)", lambda: sweep_dialog.open_sweep(self), "Ctrl+Shift+F5")
        submit_dialog.add_actions(self, run)  # Add to Queue, Submit to…
        help_menu.add_menu(self, bar)
        self._recent_menu()

    def _act(self, menu: QtWidgets.QMenu, text: str, slot: object, shortcut: object = None) -> QtGui.QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda *_: slot())
        if shortcut is not None:
            action.setShortcut(QtGui.QKeySequence(shortcut))
        return action

    # --- state -----------------------------------------------------------------------------
    def modified(self) -> bool:
        return not self.undo.isClean()

    def _title(self) -> None:
        """The file's name, `*` while there are unsaved edits; the Runs tab and node fields follow the file."""
        self.runs.panel.runs.set_workflow(self.meta.path)
        self.graph.base_dir = self.dirs()[0]
        name = self.meta.path.name if self.meta.path else "untitled"
        self.setWindowTitle(f"{name}[*] — NodeFlow")
        self.setWindowModified(self.modified())

    def _graph_changed(self) -> None:
        """Every edit, undo, redo and load passes here: stale marks go, the selection's panels follow."""
        self.hint.resize(self.graph.viewer().size())
        self.hint.setVisible(not self.graph.all_nodes())
        self.runs.graph_changed()
        self._selection()

    def fit_view(self) -> None:
        """Frame the selected nodes, or all of them (F)."""
        self.graph.fit_to_selection()

    def zoom(self, step: int) -> None:
        """One step in (1) or out (-1) about the view's centre, as the mouse wheel does."""
        self.graph.viewer()._set_viewer_zoom(step, 0.0)  # NodeGraphQt's wheel zoom; set_zoom jumps

    def _selection(self) -> None:
        selected = [n for n in self.graph.selected_nodes() if spec_of(n) is not None]
        node = selected[0] if len(selected) == 1 else None
        if len(selected) > 1:
            self.properties.show_many(selected)
        else:
            self.properties.show_node(node, self.runs.results.by_node.get(node.name()) if node else None)
        self.runs.show_checkpoints_of(node)

    def select_all(self) -> None:
        """Select every node. Selecting is no edit: nothing goes on the undo stack (NodeGraphQt's own
        select_all records one step, which marked the file modified)."""
        for node in self.graph.all_nodes():
            node.view.setSelected(True)
        self._selection()

    def _refused(self, reason: str) -> None:
        self.statusBar().showMessage(reason, 8000)
        self.runs.panel.print(reason)

    def workflow(self) -> Workflow:
        return to_workflow(self.graph, self.meta)

    def dirs(self) -> tuple[Path, Path]:
        """Where relative input paths resolve (the workflow's folder) and outputs go (the run folder)."""
        return (self.meta.path.parent if self.meta.path else self.run_dir), self.run_dir

    # --- editing ---------------------------------------------------------------------------
    def _tab_search(self, scene_pos: QtCore.QPointF) -> None:
        self.add_pos = scene_pos
        self.palette.search.setFocus()
        self.palette.search.selectAll()

    def add_chosen(self, spec: object) -> None:
        """A palette choice lands where Tab was pressed, otherwise in the middle of the view."""
        viewer = self.graph.viewer()
        pos = self.add_pos or viewer.mapToScene(viewer.viewport().rect().center())
        self.add_pos = None
        editing.add_node(self.graph, spec, (pos.x(), pos.y()))
        viewer.setFocus()

    def edit_selected(self) -> None:
        selected = [n for n in self.graph.selected_nodes() if spec_of(n) is not None]
        if len(selected) == 1:
            self.edit_node(selected[0])

    def edit_node(self, node: object) -> None:
        if spec_of(node) is None:
            return
        dialog = editing.edit_dialog(self.graph, node, self.dirs(), self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            editing.set_params(self.graph, node, dialog.values(), dialog.name())
            self._selection()

    def copy(self) -> None:
        count = editing.copy_selection(self.graph, self.meta)
        self.statusBar().showMessage(f"Copied {count} node(s)." if count else "Nothing selected to copy.", 4000)

    def paste(self) -> None:
        problem = editing.paste(self.graph)
        if problem:
            self.statusBar().showMessage(problem, 8000)

    # --- files -----------------------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """True when there are no unsaved edits, or the user saved or discarded them."""
        if not self.modified():
            return True
        buttons = QtWidgets.QMessageBox.StandardButton
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Unsaved changes",
                                    f"Save the changes to {self.windowTitle().split('[')[0]}?",
                                    buttons.Save | buttons.Discard | buttons.Cancel, self)
        box.setObjectName("unsaved_prompt")
        answer = box.exec()
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard

    def new(self) -> None:
        if self.confirm_discard() and self.runs.close_allowed("start a new workflow"):
            self._replace(Workflow(name="untitled"), "")

    def open_dialog(self) -> None:
        if not self.confirm_discard():
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open workflow", str(self.dirs()[0]),
                                                        "Workflows (*.json)")
        if path:
            self.open_path(Path(path), confirmed=True)

    def open_path(self, path: Path, confirmed: bool = False) -> bool:
        """Show the file; on any problem say why in the banner and leave the canvas as it was."""
        if not confirmed and not self.confirm_discard():
            return False
        if not self._show(lambda: load_workflow(path), str(path)):
            return False
        self.disk_text = Path(path).read_text(encoding="utf-8")
        self._remember(Path(path))
        return True

    def open_text(self, text: str, source: str) -> bool:
        """Show a workflow that has no file of its own yet (the one a checkpoint holds); Save As gives it one."""
        if not self.confirm_discard():
            return False

        def parse() -> Workflow:
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise UserError(f"not valid JSON: {exc}") from None
            return parse_workflow(doc, source)

        if not self._show(parse, source):
            return False
        self.statusBar().showMessage(f"The workflow that made {source}; Save As to keep it", 10000)
        return True

    def _show(self, load: Callable[[], Workflow], label: str) -> bool:
        try:
            workflow = load()
            problems = preflight(self.graph, workflow)
            if problems:
                raise UserError(problems)
        except UserError as exc:
            self.banner.say(f"Cannot open {label}:\n" + "\n".join(str(i) for i in exc.issues))
            return False
        if not self.runs.close_allowed("open another workflow"):
            return False
        self._replace(workflow, "")
        return True

    def _replace(self, workflow: Workflow, disk_text: str) -> None:
        self.runs.reset()  # what was shown of the old graph goes before the graph itself
        self.graph.clear_session()
        self.meta = Workflow(name=workflow.name, description=workflow.description, layout=workflow.layout,
                             path=workflow.path.resolve() if workflow.path else None)
        sweep_panel.workflow_changed(self)
        add_workflow(self.graph, workflow)
        self.graph.clear_selection()
        self.graph.clear_undo_stack()
        self.disk_text = disk_text
        self._watch()
        self.runs.reset()
        self.banner.hide()
        self.fit_view()
        self._title()
        self._graph_changed()

    def save(self) -> bool:
        if self.meta.path is None:
            return self.save_as()
        return self._write(self.meta.path)

    def save_as(self) -> bool:
        start = str(self.meta.path or self.dirs()[0] / f"{self.meta.name or 'workflow'}.json")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save workflow", start, "Workflows (*.json)")
        return self._write(Path(path)) if path else False

    def _write(self, path: Path) -> bool:
        workflow = self.workflow()
        workflow.path = workflow.path or self.dirs()[0] / "untitled.json"  # where its relative inputs resolve now
        if self.meta.name in ("", "untitled"):
            workflow.name = self.meta.name = path.stem
        try:
            rebased = save_workflow(workflow, path, self.registry)
        except OSError as exc:
            self.banner.say(f"Cannot save {path}: {exc.strerror or exc}. Nothing was changed on disk.")
            return False
        self._rebased(rebased)
        self.meta.path = path.resolve()
        self.disk_text = dumps(workflow)
        self.undo.setClean()
        self._watch()
        self._remember(path)
        self._title()
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def _rebased(self, changes: dict[str, dict[str, object]]) -> None:
        """Relative input paths rewritten for the new folder (Save As elsewhere): the canvas takes the
        saved values as one undo step, so it shows what the file holds."""
        if not changes:
            return
        self.undo.beginMacro("Paths relative to the new folder")
        for node in self.graph.all_nodes():
            if node.get_property(ID_PROP) in changes:
                editing.set_params(self.graph, node, changes[node.get_property(ID_PROP)])
        self.undo.endMacro()
        self.statusBar().showMessage("Relative paths now start from the new folder: "
                                     + ", ".join(sorted(f"{k}" for c in changes.values() for k in c)), 8000)

    def _watch(self) -> None:
        if self.watcher.files():
            self.watcher.removePaths(self.watcher.files())
        if self.meta.path and self.meta.path.exists():
            self.watcher.addPath(str(self.meta.path))

    def _changed_on_disk(self, name: str) -> None:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = None
        self._watch()  # an atomic replace drops the watch; take it up again
        if text == self.disk_text:
            return
        if text is None:
            self.banner.say(f"{path.name} was removed or renamed on disk. Save to write it again.")
            return
        lose = " Reloading discards your unsaved edits." if self.modified() else ""
        self.banner.say(f"{path.name} changed on disk.{lose}",
                        (("Reload", lambda: self.open_path(path, confirmed=True)),))

    def _remember(self, path: Path) -> None:
        recent = [str(path.resolve())] + [p for p in self.recent() if p != str(path.resolve())]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._recent_menu()

    def recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent():
            self._act(self.recent_menu, path, lambda p=path: self.open_path(Path(p)))
        self.recent_menu.setEnabled(bool(self.recent()))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if self.runs.close_allowed() and self.confirm_discard():
            abandon_tools(self)
            self.undo.blockSignals(True)  # the stack outlives the window: its last signals must not reach it
            event.accept()
        else:
            event.ignore()
