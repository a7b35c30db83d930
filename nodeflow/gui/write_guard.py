"""Before a run: ask the user what to do where the run would meet another run's or foreign files.

The headless runner refuses such runs (exit 2); the editor asks instead, as a file
dialog does. A Trainer's folder holding another run: Continue (resume=auto), New
folder (the next free name), Replace (moves the old files to previous/, never deletes)
or Cancel. An output file NodeFlow did not write: Replace or Cancel. Edits to the graph
are undoable; Replace is a one-off `--set NODE.overwrite=true` for this run only.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from NodeGraphQt import BaseNode
from PySide6 import QtWidgets

from nodeflow.core.layouts import Layout, in_the_way, planned_folder
from nodeflow.core.outputs import conflict_summary, next_free, output_problem
from nodeflow.core.params import resolve_path
from nodeflow.gui import editing
from nodeflow.gui.graph import params_of, spec_of

Role = QtWidgets.QMessageBox.ButtonRole


def confirm_writes(parent: QtWidgets.QWidget, graph: Any, nodes: list[BaseNode], run_dir: Path) -> list[str] | None:
    """The `--set` overrides the user chose for this run, or None when they cancelled."""
    overrides: list[str] = []
    for node in nodes:
        spec, params = spec_of(node), params_of(node)
        if spec is None or spec.param("overwrite") is None or params.get("overwrite"):
            continue
        if spec.param("checkpoint_dir") is not None:
            choice = _ask_folder(parent, graph, node, params, run_dir)
        else:
            choice = _ask_files(parent, node, params, spec, run_dir)
        if choice is None:
            return None
        overrides += choice
    return overrides


def _ask_folder(parent: QtWidgets.QWidget, graph: Any, node: BaseNode, params: dict[str, Any],
                run_dir: Path) -> list[str] | None:
    planned, layout = planned_folder(params), Layout.of(params)
    if planned is None:
        return []  # named at run time: the run itself refuses a conflict
    folder = resolve_path(str(planned), run_dir)
    state = in_the_way(folder, layout, params["resume"])
    if state is None:
        return []
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Checkpoint folder in use",
                                f"{node.name()}: {conflict_summary(folder, state)}.", parent=parent)
    box.setObjectName("folder_in_use")
    suggestion = next_free(folder)
    buttons = {"continue": box.addButton("Continue", Role.AcceptRole)} if state.run_id else {}
    buttons["new"] = box.addButton(f"New folder ({suggestion.name})", Role.AcceptRole)
    buttons["replace"] = box.addButton("Replace (move to previous/)", Role.DestructiveRole)
    box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.setInformativeText(("Continue resumes that run. " if state.run_id else "")
                           + f"Replace moves the files into {folder.name}/previous/ and starts afresh; "
                             "nothing is deleted.")
    box.exec()
    clicked = next((key for key, button in buttons.items() if box.clickedButton() is button), None)
    if clicked == "continue":
        editing.set_params(graph, node, {"resume": "auto"})
    elif clicked == "new" and layout.experiments:
        editing.set_params(graph, node, {"experiment_name": suggestion.name})
    elif clicked == "new":
        relative = not Path(os.path.expanduser(params["checkpoint_dir"])).is_absolute()
        editing.set_params(graph, node, {"checkpoint_dir": os.path.relpath(suggestion, run_dir) if relative
                                         else str(suggestion)})
    elif clicked == "replace":
        return [f"{node.name()}.overwrite=true"]
    else:
        return None
    return []


def _ask_files(parent: QtWidgets.QWidget, node: BaseNode, params: dict[str, Any], spec: Any,
               run_dir: Path) -> list[str] | None:
    for param in spec.params:
        if param.type != "outfile" or not params.get(param.name):
            continue
        path = resolve_path(params[param.name], run_dir)
        if output_problem(path) is None:
            continue
        buttons = QtWidgets.QMessageBox.StandardButton
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Replace file?",
                                    f"{path.name} already exists in {path.parent} and NodeFlow did not write "
                                    f"it.\nReplace it with {node.name()}'s output?", buttons.Yes | buttons.Cancel,
                                    parent)
        box.setObjectName("replace_output")
        box.setDefaultButton(buttons.Cancel)
        if box.exec() != buttons.Yes:
            return None
        return [f"{node.name()}.overwrite=true"]
    return []
