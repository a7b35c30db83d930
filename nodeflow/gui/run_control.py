"""Validate, Check, Run and Stop from the editor: the graph as shown runs in a child process
(a snapshot, so unsaved edits run without touching the workflow file); events drive the UI."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from NodeGraphQt import BaseNode
from PySide6 import QtCore, QtWidgets

from nodeflow.core import UserError, apply_overrides, plan
from nodeflow.core.cache import RUN, NodeCache, index_path, upstream
from nodeflow.checkpoints.run_request import RunRequest
from nodeflow.core.workflow import dumps
from nodeflow.gui import editing
from nodeflow.gui.badges import badge_of, set_badge
from nodeflow.gui.convert import flow_nodes
from nodeflow.gui.graph import params_of, spec_of
from nodeflow.gui.link_labels import LinkLabels
from nodeflow.gui.graph_checks import before_planning
from nodeflow.gui.help_menu import FIRST_STEPS, OPENED_STEPS
from nodeflow.gui.results import Results
from nodeflow.gui.reused_results import reused_result, trained_entry
from nodeflow.gui.run_panel import RunPanel
from nodeflow.gui.runner import RunProcess, run_tool
from nodeflow.gui.write_guard import confirm_writes

if TYPE_CHECKING:
    from nodeflow.gui.window import MainWindow

CLOSE_WAIT_MS = 20000


class RunControl(QtCore.QObject):
    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.panel = RunPanel(window.run_dir, window.settings, window)
        self.process = RunProcess(self)
        self.process.event.connect(self._event)
        self.process.output.connect(self.panel.print)
        self.process.ended.connect(self._ended)
        self.process.exited.connect(self._exited)
        self.last_folders: dict[str, str] = {}  # Trainer name -> checkpoint folder the last run used
        self.trained: dict[str, dict[str, Any]] = {}  # checkpoint folder -> the result its training showed
        self.panel.validate_button.clicked.connect(self.validate)
        self.panel.run_button.clicked.connect(lambda: self.run())  # not clicked(bool) as `until`
        self.panel.check_button.clicked.connect(self.check)
        self.labels = LinkLabels(window.graph.scene())
        self.results = Results()
        self.dry_run = False  # the child now running is a Check
        self.last_run: tuple[str, tuple[str, ...]] = ("", ())  # its `until` and trusted nodes, to run it again
        self.untrusted: tuple[str, dict[str, Any]] | None = None  # a node the run stopped for naming code
        self.last_drawn = self.last_content = ""  # the graph as last seen by graph_changed
        self.run_ids: set[str] = set()  # the node ids of the graph the child runs
        self.scratch = tempfile.TemporaryDirectory(prefix="nodeflow-run-")  # the snapshots runs execute
        self.panel.stop_button.clicked.connect(self.stop)
        self.panel.checkpoints.resume_requested.connect(self._resume_from)
        self.panel.checkpoints.inference_requested.connect(self._use_for_inference)
        self.panel.checkpoints.workflow_found.connect(window.open_text)
        run_tool(self, ["devices"], window.run_dir, self._devices)

    def _devices(self, code: int, out: str, err: str) -> None:
        if code == 0:
            self.panel.set_devices([json.loads(line) for line in out.splitlines() if line.startswith("{")])

    def _node(self, name: str) -> BaseNode | None:
        return next((n for n in flow_nodes(self.window.graph) if n.name() == name), None)

    def reset(self) -> None:
        """Forget everything shown about the previous graph (a new or opened file)."""
        self.clear_marks()
        self.panel.reset()
        self.last_folders, self.trained = {}, {}
        self.show_checkpoints_of(None)

    def clear_marks(self) -> None:
        """Remove badges, link labels, results, listed issues and the last verdict ("Check passed.",
        "Valid: ready to run"): they describe the graph before an edit."""
        for node in flow_nodes(self.window.graph):
            set_badge(node, "idle")
        self.labels.clear()
        self.results.clear()
        self.panel.issues.clear()
        if not self.process.running():
            self.panel.status.setText("Idle")
            self.panel.progress.setValue(0)
            self.panel.check_text = ""

    def graph_changed(self) -> None:
        """After an undo-stack change: what describes the old graph goes. A move drops the link
        labels; an edit of nodes, links or params also the badges and results, and after a
        Validate that found issues, the issues are checked again so a fixed field loses its mark.
        Selecting (NodeGraphQt records it on the undo stack too) changes nothing."""
        shown = self.window.workflow()
        drawn = dumps(shown)
        shown.layout = {}
        content = dumps(shown)
        if drawn != self.last_drawn:
            self.labels.clear()
        changed, self.last_drawn, self.last_content = content != self.last_content, drawn, content
        if not changed or self.process.running():
            return
        had_issues = any(badge_of(n) == "issue" for n in flow_nodes(self.window.graph))
        self.clear_marks()
        if had_issues:
            self.validate(quiet=True)

    def validate(self, overrides: list[str] | None = None, outputs: bool = True, quiet: bool = False,
                 running: set[str] | None = None) -> bool:
        """Check the whole graph with the core; list every issue and mark it on its node
        (`quiet`: without switching tabs, as after an edit). `running`: the nodes a Run executes;
        what lies where the others would write is no problem, since they write nothing."""
        self.clear_marks()
        workflow = self.window.workflow()
        apply_overrides(workflow, self.window.registry, overrides or [])
        if workflow.path is None:
            workflow.path = self.window.dirs()[0] / "untitled.json"  # relative inputs resolve from there
        try:
            shown_issues = before_planning(self.window.graph, workflow)
            if shown_issues:
                raise UserError(shown_issues)
            try:
                checked = plan(workflow, self.window.registry, outputs)  # output folders resolve against the cwd
            except UserError as exc:
                kept = [i for i in exc.issues if running is None or not i.node or i.node in running]
                if kept:
                    raise type(exc)(kept) from None
                checked = plan(workflow, self.window.registry, outputs=False)
        except UserError as exc:
            for issue in exc.issues:
                self.panel.issues.addItem(str(issue).replace(f"{workflow.path}: ", ""))
                node = self._node(issue.node)
                if node is not None:
                    set_badge(node, "issue", f"{issue.field + ': ' if issue.field else ''}{issue.message}")
            if not quiet:
                self.panel.tabs.setCurrentWidget(self.panel.issues)
            self.panel.status.setText(f"{len(exc.issues)} issue(s) found")
            return False
        self.panel.status.setText("Valid: ready to run")
        self.panel.issues.addItem("No issues.")
        for warning in checked.warnings:
            self.panel.issues.addItem("Note: " + str(warning).replace(f"{workflow.path}: ", ""))
            node = self._node(warning.node)
            if node is not None:
                set_badge(node, "warning", warning.message)
        return True

    def run(self, until: str = "", trust: tuple[str, ...] = ()) -> None:
        """Run the graph (`until`: that node and what it needs); `trust`: nodes allowed to rebuild
        a model from the code its checkpoint names, for this run (the user said yes)."""
        if self.process.running():
            return
        running = self.will_run(until)
        nodes = [n for n in flow_nodes(self.window.graph) if running is None or n.name() in running]
        overrides = confirm_writes(self.window, nodes, self.window.run_dir,
                                   self.window.meta.path or self.window.dirs()[0] / "untitled.json")
        if overrides is None:
            self.panel.status.setText("Not started")
            return
        overrides += [f"{name}.trust_code=true" for name in trust]
        if self.validate(overrides, running=running):
            self.last_run = (until, trust)
            self._start(overrides=overrides, until=until)

    def will_run(self, until: str = "") -> set[str] | None:
        """The nodes a Run will execute (the others are unchanged: reused or skipped), as the runner
        decides it from the same cache index; None when the graph does not plan (Validate says why)."""
        workflow, device = self.window.workflow(), self.panel.device.currentData() or ""
        workflow.path = self.window.meta.path or self.window.dirs()[0] / "untitled.json"
        try:
            checked = plan(workflow, self.window.registry, outputs=False)
        except UserError:
            return None
        if device.startswith("ddp:"):  # no reuse with several processes: everything runs
            return {node.name for node in workflow.nodes.values()}
        target = next((i for i, n in workflow.nodes.items() if n.name == until), None)
        if target is not None:
            checked = upstream(checked, target)
        steps = NodeCache(index_path(workflow.path), workflow, checked, self.window.registry, device or None).steps()
        return {workflow.nodes[i].name for i, step in steps.items() if step.action == RUN}

    def run_to_selected(self) -> None:
        """Run to here: the selected node and what it needs, nothing downstream."""
        selected = [n for n in self.window.graph.selected_nodes() if spec_of(n)]
        if len(selected) != 1:
            self.window.statusBar().showMessage("Select one node to run to.", 5000)
            return
        self.run(until=selected[0].name())

    def check(self) -> None:
        """A dry run: one batch through the graph, nothing written; links get labels, the status an ETA."""
        if not self.process.running() and self.validate(outputs=False):
            self._start(dry_run=True)

    def _start(self, **options: Any) -> None:
        """Run the graph as shown: a snapshot of it runs as the workflow file it stands for."""
        self.untrusted = None
        self.clear_marks()
        as_path = self.window.meta.path or self.window.dirs()[0] / "untitled.json"
        snapshot = Path(self.scratch.name) / "workflow.json"
        shown = self.window.workflow()
        self.run_ids = set(shown.nodes)
        snapshot.write_text(dumps(shown), encoding="utf-8")
        unsaved = " (with unsaved edits)" if self.window.modified() or self.window.meta.path is None else ""
        self.dry_run = options.get("dry_run", False)
        self.panel.run_started(as_path, self.dry_run, unsaved)
        self.panel.tabs.setCurrentWidget(self.panel.console)
        self.process.start(snapshot, self.window.run_dir, device=self.panel.device.currentData() or "",
                           as_path=as_path, **options)

    def stop(self) -> None:
        if self.process.running():
            self.panel.status.setText("Stopping after the current batch…")
            self.process.stop()

    def _event(self, e: dict[str, Any]) -> None:
        self.panel.show_event(e)
        node = self._node(e.get("node", "")) if e.get("node") else None
        kind = e["event"]
        if kind == "node_start" and node:
            set_badge(node, "running")
        elif kind == "node_end" and node:
            set_badge(node, "checked" if self.dry_run else "done")
        elif kind == "node_outputs" and node:
            self.labels.show(node, e["outputs"])
        if kind == "dry_run" and node and e.get("layers"):
            model = next((p.node() for p in node.get_input("model").connected_ports()), None) \
                if node.get_input("model") else None
            if model is not None:
                self.results.take(model, {**e, "event": "layers"})  # layers and the built model's size
        if kind == "fit_start" and e.get("checkpoint_dir"):  # the folder a {run} or {timestamp} became
            self.last_folders[e["node"]] = e["checkpoint_dir"]
            self._refresh_checkpoints()
        if node and kind in ("metrics", "fit_start", "epoch_end", "fit_end", "result") and not self.dry_run:
            self.results.take(node, e)
            if kind == "result" and e.get("text"):
                self.panel.samples.appendPlainText(f"\n{node.name()} wrote:\n\n{e['text']}")
            if node in self.window.graph.selected_nodes():
                self.window.properties.show_node(node, self.results.by_node.get(node.name()))
        elif kind == "node_reused" and node:
            where = e.get("from", "")
            set_badge(node, "reused", f"unchanged since the last run; {e.get('what', '')} from {where}".strip())
            trains = (spec := spec_of(node)) is not None and spec.trains and e.get("what") == "model"
            shown = reused_result(self.trained, node.name(), where, self.window.run_dir) if trains else None
            if shown and not self.dry_run:
                self.results.take(node, {"event": "reused", **shown})
        if kind == "fit_end" and node and not self.dry_run:  # what this training showed, for when it is reused
            self.trained.update(trained_entry(self.results.by_node.get(node.name(), {}), self.window.run_dir))
        elif kind == "error" and node:
            set_badge(node, "failed", e.get("message", ""))
            if e.get("untrusted_code"):
                self.untrusted = (node.name(), e["untrusted_code"])
        elif kind == "run_end" and e.get("status") == "interrupted":
            for n in flow_nodes(self.window.graph):
                if badge_of(n) == "running":
                    set_badge(n, "stopped")

    def _ask_trust(self) -> None:
        """A checkpoint named code to rebuild its model and the run refused: ask, naming the code, and
        run again with trust_code for that node when the user says yes."""
        name, what = self.untrusted
        self.untrusted = None
        kind = "the Python file" if what.get("kind") == "file" else "the Python module"
        buttons = QtWidgets.QMessageBox.StandardButton
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Run code named by a checkpoint?",
                                    f"{name}: {what.get('checkpoint', 'the checkpoint')} rebuilds its model by "
                                    f"running {kind}\n{what.get('source', '?')}\n\nRun that code? Only say yes "
                                    "if you trust where the checkpoint and that code came from.",
                                    buttons.Yes | buttons.No, self.window)
        box.setObjectName("trust_code_prompt")
        box.setDefaultButton(buttons.No)
        if box.exec() == buttons.Yes:
            until, trust = self.last_run
            self.run(until=until, trust=(*trust, name))

    def _ended(self, code: int, summary: str) -> None:
        for node in flow_nodes(self.window.graph):
            if badge_of(node) == "running":
                set_badge(node, "failed" if code not in (0, 130) else "stopped", summary)
        if self.dry_run:  # a Check is no run: "Check passed.", "The check failed.", "Check stopped."
            summary = "Check passed." if code == 0 else summary.replace("Run ", "Check ").replace("run ", "check ")
        self.panel.run_ended(code, summary)
        if code == 0 and self.window.banner.text.text() in (FIRST_STEPS, OPENED_STEPS):
            self.window.banner.hide()  # "New here? Press Run": done, the hint has served
        if code not in (0, 130):
            self.window.statusBar().showMessage(summary, 10000)
        if self.untrusted is not None:
            QtCore.QTimer.singleShot(0, self._ask_trust)  # after this run has fully ended

    def _exited(self) -> None:
        """The child of a run already shown as ended has exited: its run record is now complete."""
        self.panel.checkpoints.refresh()
        if self.panel.tabs.currentWidget() is self.panel.runs:
            self.panel.runs.refresh()

    def close_allowed(self, then: str = "close") -> bool:
        """Before the window closes or shows another workflow (`then`: what follows, in words): a running
        child is stopped cleanly (after asking), never orphaned nor left marking another graph; one whose
        run has ended is given the time to finish writing its record."""
        if not self.process.running():
            self.process.wait(CLOSE_WAIT_MS)
            return True
        buttons = QtWidgets.QMessageBox.StandardButton
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, "A run is in progress",
                                    f"Stop the run (it saves an interrupt checkpoint) and {then}?",
                                    buttons.Yes | buttons.No, self.window)
        box.setObjectName("close_run_prompt")
        if box.exec() != buttons.Yes:
            return False
        self.process.stop()
        if not self.process.wait(CLOSE_WAIT_MS):
            self.process.kill()
            self.process.wait(5000)
        return True

    # --- checkpoints ------------------------------------------------------------------------
    def show_checkpoints_of(self, node: BaseNode | None) -> None:
        trainers = self._trainers()
        if node is None or node not in trainers:
            node = trainers[0] if len(trainers) == 1 else None
        if node is None:
            self.panel.checkpoints.set_folder(None)
            return
        request = RunRequest.of(params_of(node))
        run = request.planned()
        last = self.last_folders.get(node.name())
        path = Path(os.path.expanduser(last)) if last else request.at(run).checkpoints if run else None
        if path is not None:
            self.panel.checkpoints.set_folder(path if path.is_absolute() else self.window.run_dir / path)
        elif not request.checkpoint_dir:
            self.panel.checkpoints.set_folder(None, f"{node.name()}: checkpoint_dir is empty, saving is off.")
        else:
            self.panel.checkpoints.set_folder(None, f"{node.name()}: its folder is named at run time "
                                                    f"({request.checkpoint_dir}); run it once.")

    def _trainers(self) -> list[BaseNode]:
        """The canvas's nodes that train a model (their spec says so: NodeSpec.trains)."""
        return [n for n in flow_nodes(self.window.graph) if (spec := spec_of(n)) is not None and spec.trains]

    def _refresh_checkpoints(self) -> None:
        selected = [n for n in self.window.graph.selected_nodes() if spec_of(n)]
        self.show_checkpoints_of(selected[0] if len(selected) == 1 else None)

    def _trainer(self) -> BaseNode | None:
        trainers = self._trainers()
        selected = [n for n in self.window.graph.selected_nodes() if n in trainers]
        return (selected or trainers or [None])[0]

    def _resume_from(self, path: str) -> None:
        trainer = self._trainer()
        if trainer is not None:
            editing.set_params(self.window.graph, trainer, RunRequest.resuming(path))
            self.panel.print(f"{trainer.name()} continues from {path} (Run to continue from it; Undo to take it back)")

    def _use_for_inference(self, path: str) -> None:
        """Add a LoadCheckpoint for `path`; a model node selected on the canvas gives it the architecture
        (for bare state_dicts): the weights must fit it, or the run names the first key or shape that differs."""
        graph = self.window.graph
        models = [n for n in graph.selected_nodes() if spec_of(n) and spec_of(n).rebuild is not None]
        graph.undo_stack().beginMacro("Use checkpoint for inference")
        viewer = graph.viewer()
        centre = viewer.mapToScene(viewer.viewport().rect().center())
        x, y = (models[0].pos()[0] + 260.0, models[0].pos()[1]) if len(models) == 1 else (centre.x(), centre.y())
        node = editing.add_node(graph, self.window.registry.get("model.load_checkpoint"), (x, y))
        editing.set_params(graph, node, {"path": os.path.relpath(path, self.window.dirs()[0])})
        if len(models) == 1:
            node.get_input("model").connect_to(models[0].get_output("model"))
        viewer.ensureVisible(node.view)
        graph.undo_stack().endMacro()
        into = f" into {models[0].name()}'s architecture" if len(models) == 1 else ""
        self.panel.print(f"Added {node.name()} loading {path}{into}; link its model output to an Evaluate or "
                         "Predict node.")

