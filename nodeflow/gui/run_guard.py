"""Edits that would take a node away from the run in progress ask first: stop the run, or cancel.

A run executes a snapshot of the graph; a node deleted from the canvas meanwhile (Delete, an Undo
of its Add, a Redo of its removal) keeps running in the child, and the nodes after it would then
show results for links that no longer exist. So Delete, Undo and Redo look at what they would
remove before doing it, and when that includes a node of the run they ask.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from NodeGraphQt.base.commands import NodeAddedCmd, NodesRemovedCmd
from PySide6 import QtGui, QtWidgets

from nodeflow.gui import editing
from nodeflow.gui.graph import ID_PROP, spec_of

if TYPE_CHECKING:
    from nodeflow.gui.window import MainWindow


def removed_by(command: Any, undoing: bool) -> list[Any]:
    """The nodes an undo (or redo) of `command`, a macro included, takes off the canvas."""
    found: list[Any] = []
    if isinstance(command, NodeAddedCmd) and undoing:
        found.append(command.node)
    elif isinstance(command, NodesRemovedCmd) and not undoing:
        found.extend(command.nodes)
    for i in range(command.childCount() if command is not None else 0):
        found.extend(removed_by(command.child(i), undoing))
    return found


class RunGuard:
    """Delete, Undo and Redo for the window, each asking before it removes a node the run uses."""

    def __init__(self, window: MainWindow):
        self.window = window

    def _in_run(self, nodes: list[Any]) -> list[str]:
        """The names of `nodes` that belong to the run in progress."""
        runs = self.window.runs
        if not runs.process.running():
            return []
        return [n.name() for n in nodes if spec_of(n) is not None and n.get_property(ID_PROP) in runs.run_ids]

    def allowed(self, nodes: list[Any]) -> bool:
        """True when removing `nodes` leaves the run alone, or the user chose to stop the run."""
        names = self._in_run(nodes)
        if not names:
            return True
        shown = ", ".join(names[:4]) + (" …" if len(names) > 4 else "")
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "A run is using this node",
                                    f"{shown} {'is' if len(names) == 1 else 'are'} part of the run in progress.\n"
                                    "Stop the run and make the edit, or cancel the edit?", parent=self.window)
        box.setObjectName("remove_running_prompt")
        stop = box.addButton("Stop the run", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton("Cancel the edit", QtWidgets.QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(cancel)
        box.exec()
        if box.clickedButton() is not stop:
            self.window.statusBar().showMessage("Edit cancelled: the run goes on.", 5000)
            return False
        self.window.runs.stop()
        return True

    def delete(self) -> None:
        graph = self.window.graph
        if self.allowed(graph.selected_nodes()):
            editing.delete_selection(graph)

    def undo(self) -> None:
        stack = self.window.undo
        if stack.canUndo() and self.allowed(removed_by(stack.command(stack.index() - 1), undoing=True)):
            stack.undo()

    def redo(self) -> None:
        stack = self.window.undo
        if stack.canRedo() and self.allowed(removed_by(stack.command(stack.index()), undoing=False)):
            stack.redo()

    def actions(self, menu: QtWidgets.QMenu) -> None:
        """Undo and Redo on the Edit menu, named after the step they take, enabled as the stack allows."""
        stack = self.window.undo
        undo = self._action(menu, "&Undo", self.undo, QtGui.QKeySequence.StandardKey.Undo)
        redo = self._action(menu, "&Redo", self.redo, QtGui.QKeySequence.StandardKey.Redo)  # Ctrl+Shift+Z, Ctrl+Y

        def follow() -> None:
            undo.setEnabled(stack.canUndo())
            redo.setEnabled(stack.canRedo())
            undo.setText(f"&Undo {stack.undoText()}".strip())
            redo.setText(f"&Redo {stack.redoText()}".strip())

        stack.indexChanged.connect(lambda *_: follow())
        stack.cleanChanged.connect(lambda *_: follow())
        follow()

    def _action(self, menu: QtWidgets.QMenu, text: str, slot: Callable[[], None],
                keys: QtGui.QKeySequence.StandardKey) -> QtGui.QAction:
        action = menu.addAction(text)
        action.setShortcuts(keys)
        action.triggered.connect(lambda *_: slot())
        return action
