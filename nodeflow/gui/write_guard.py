"""Before a run: ask the user what to do where the run would meet another run's or foreign files.

The headless runner refuses such runs (exit 2); the editor asks instead, as a file dialog
does. A Trainer's folder holding another run: the prompt says how far that run got; an
unfinished run can be continued, a finished one extended by more epochs, or the run goes
to a new folder (the default for a finished run), or the old files move to previous/
(never deleted). An output file NodeFlow did not write: Replace or Cancel. Every choice
is a `--set` override for this run only: the workflow is never edited by the prompt.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from NodeGraphQt import BaseNode
from PySide6 import QtWidgets

from nodeflow.checkpoints.layout import Layout, in_the_way, planned_folder
from nodeflow.core.outputs import conflict_summary, manifest_doc, next_free, output_problem
from nodeflow.core.params import resolve_path
from nodeflow.gui.graph import params_of, spec_of

Role = QtWidgets.QMessageBox.ButtonRole


def confirm_writes(parent: QtWidgets.QWidget, nodes: list[BaseNode], run_dir: Path) -> list[str] | None:
    """The `--set` overrides the user chose for this run, or None when they cancelled."""
    overrides: list[str] = []
    for node in nodes:
        spec, params = spec_of(node), params_of(node)
        if spec is None or spec.param("overwrite") is None or params.get("overwrite"):
            continue
        if spec.param("checkpoint_dir") is not None:
            choice = _ask_folder(parent, node, params, run_dir)
        else:
            choice = _ask_files(parent, node, params, spec, run_dir)
        if choice is None:
            return None
        overrides += choice
    return overrides


def run_progress(folder: Path) -> tuple[str, int, bool]:
    """How far the run in `folder` got: ("run ID finished 12/12 epochs, best val_loss 0.031", 12, finished)."""
    doc = manifest_doc(folder) or {}
    entries = [e for e in (doc.get("checkpoints") or {}).values() if isinstance(e, dict)]
    run_id = (doc.get("run") or {}).get("id", "?")
    done = max((int(e.get("epoch") or 0) for e in entries), default=0)
    finished = any(e.get("is_final") or e.get("kind") == "final" for e in entries)
    planned = next((((e.get("config") or {}).get("trainer") or {}).get("epochs") for e in entries
                    if (e.get("config") or {}).get("trainer")), None)
    text = f"run {run_id} {'finished' if finished else 'stopped after'} {done}"
    text += f"/{planned} epochs" if planned else " epoch(s)"
    best = next((e for e in entries if e.get("is_best") and e.get("monitor_value") is not None), None)
    if best is not None:
        text += f", best {best.get('monitor', 'loss')} {float(best['monitor_value']):.4g}"
    return text, done, finished


def _ask_folder(parent: QtWidgets.QWidget, node: BaseNode, params: dict[str, Any],
                run_dir: Path) -> list[str] | None:
    planned, layout = planned_folder(params), Layout.of(params)
    if planned is None:
        return []  # named at run time: the run itself refuses a conflict
    folder = resolve_path(str(planned), run_dir)
    state = in_the_way(folder, layout, params["resume"])
    if state is None:
        return []
    name, epochs = node.name(), int(params.get("epochs") or 0)
    suggestion = next_free(folder)
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Checkpoint folder in use", "", parent=parent)
    box.setObjectName("folder_in_use")
    choices: dict[str, tuple[QtWidgets.QAbstractButton, list[str]]] = {}
    informative = ""
    if state.run_id:
        summary, done, finished = run_progress(layout.checkpoint_folder(folder))
        box.setText(f"{name}: {folder} holds {summary}.")
        if finished and epochs <= done:
            more = epochs or 10
            choices["more"] = (box.addButton(f"Train {more} more epochs", Role.AcceptRole),
                               [f"{name}.resume=auto", f"{name}.epochs={done + more}"])
            informative = f"Train {more} more epochs continues that run from its last checkpoint to epoch {done + more}. "
        else:
            label = f"Continue to {epochs} epochs" if finished else "Continue"
            choices["continue"] = (box.addButton(label, Role.AcceptRole), [f"{name}.resume=auto"])
            informative = "Continue resumes that run from its last checkpoint. "
    else:
        box.setText(f"{name}: {conflict_summary(folder, state)}.")
        finished = False
    new_value = suggestion.name if layout.experiments else (
        os.path.relpath(suggestion, run_dir) if not Path(os.path.expanduser(params["checkpoint_dir"])).is_absolute()
        else str(suggestion))
    choices["new"] = (box.addButton(f"New folder ({suggestion.name})", Role.AcceptRole),
                      [f"{name}.{'experiment_name' if layout.experiments else 'checkpoint_dir'}={new_value}"])
    choices["replace"] = (box.addButton("Replace (move to previous/)", Role.DestructiveRole),
                          [f"{name}.overwrite=true"])
    box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(choices["new" if finished or not state.run_id else "continue"][0])
    box.setInformativeText(informative + f"Replace moves the files into {folder.name}/previous/ and starts afresh; "
                                         "nothing is deleted. The choice applies to this run only.")
    box.exec()
    return next((overrides for button, overrides in choices.values() if box.clickedButton() is button), None)


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
