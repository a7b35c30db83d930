"""Before a run: ask the user what to do where the run would meet another run's or foreign files.

The headless runner refuses such runs (exit 2); the editor asks instead, as a file dialog
does. A Trainer's folder holding another run: the prompt says how far that run got; an
unfinished run can be continued, a finished one extended by more epochs, or the run goes
to a new folder (the default for a finished run), or the old files move to previous/
(never deleted). An output file NodeFlow did not write: Replace or Cancel. Every choice
is a `--set` override for this run only: the workflow is never edited by the prompt.

A folder named at run time (`{run}`, `{timestamp}`) is new on every run; when the last recorded
run of the same workflow left its Trainer's folder unfinished (Stop), Run offers to continue it there.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from NodeGraphQt import BaseNode
from PySide6 import QtWidgets

from nodeflow.checkpoints.folder_state import conflict_summary, next_free
from nodeflow.checkpoints.run_request import RunRequest
from nodeflow.core.outputs import output_problem
from nodeflow.core.params import resolve_path
from nodeflow.gui.graph import params_of, spec_of
from nodeflow.runs import load_runs

Role = QtWidgets.QMessageBox.ButtonRole


def confirm_writes(parent: QtWidgets.QWidget, nodes: list[BaseNode], run_dir: Path,
                   workflow: Path | None = None) -> list[str] | None:
    """The `--set` overrides the user chose for this run, or None when they cancelled. `workflow`: the
    file the run is recorded under (its last run may be one to continue)."""
    overrides: list[str] = []
    for node in nodes:
        spec, params = spec_of(node), params_of(node)
        if spec is None or spec.param("overwrite") is None or params.get("overwrite"):
            continue
        if spec.trains:
            choice = _ask_folder(parent, node, RunRequest.of(params), int(params.get("epochs") or 0), run_dir,
                                 workflow)
        else:
            choice = _ask_files(parent, node, params, spec, run_dir)
        if choice is None:
            return None
        overrides += choice
    return overrides


def _settings(node: str, params: dict[str, Any]) -> list[str]:
    """`params` as the --set lines the run takes ("Trainer.resume=auto")."""
    return [f"{node}.{name}={str(value).lower() if isinstance(value, bool) else value}"
            for name, value in params.items()]


def last_folder(workflow: Path | None, trainer: str) -> str | None:
    """The folder the newest recorded run of `workflow` (a sweep's trials aside) gave `trainer`."""
    if workflow is None:
        return None
    key = str(Path(workflow).resolve())
    for record in reversed(load_runs()):
        folders = record.get("checkpoints") or {}
        if record.get("workflow") == key and "trial" not in record and isinstance(folders.get(trainer), str):
            return folders[trainer]
    return None


def _ask_continue(parent: QtWidgets.QWidget, node: BaseNode, request: RunRequest, run_dir: Path,
                  workflow: Path | None) -> list[str] | None:
    """A folder named at run time: offer to continue the last run of this workflow when it stopped early."""
    last = last_folder(workflow, node.name())
    if last is None:
        return []
    run = request.at(resolve_path(last, run_dir))
    if run.path.is_relative_to(run_dir.resolve()):  # the index keeps absolute folders: shown as the user typed
        last = str(run.path.relative_to(run_dir.resolve()))
    state = replace(request, resume="").at(run.path).in_the_way()  # as a fresh run meets it: whose run
    if state is None or not state.run_id:
        return []
    summary, done, finished = run.progress()
    if finished:
        return []
    name = node.name()
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, "Continue the stopped run?",
                                f"{name}: the last run of this workflow stopped early; {last} holds {summary}.",
                                parent=parent)
    box.setObjectName("continue_run")
    keep = box.addButton("Continue", Role.AcceptRole)
    fresh = box.addButton("New run", Role.AcceptRole)
    box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.setInformativeText(f"Continue resumes that run in {last} from its last checkpoint. New run starts from "
                           f"scratch in a new folder ({request.checkpoint_dir}). The choice applies to this run only.")
    box.exec()
    if box.clickedButton() is keep:
        return [f"{name}.{request.renamed(run.path, run_dir)}", *_settings(name, RunRequest.resuming())]
    return [] if box.clickedButton() is fresh else None


def _ask_folder(parent: QtWidgets.QWidget, node: BaseNode, request: RunRequest, epochs: int,
                run_dir: Path, workflow: Path | None = None) -> list[str] | None:
    planned = request.planned()
    if planned is None:  # named at run time: the run itself refuses a conflict
        return _ask_continue(parent, node, request, run_dir, workflow) if request.checkpoint_dir else []
    run = request.at(resolve_path(str(planned), run_dir))
    folder, state = run.path, run.in_the_way()
    if state is None:
        return []
    name = node.name()
    suggestion = next_free(folder)
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Checkpoint folder in use", "", parent=parent)
    box.setObjectName("folder_in_use")
    choices: dict[str, tuple[QtWidgets.QAbstractButton, list[str]]] = {}
    informative = ""
    if state.run_id:
        summary, done, finished = run.progress()
        box.setText(f"{name}: {folder} holds {summary}.")
        if finished and epochs <= done:
            more = epochs or 10
            choices["more"] = (box.addButton(f"Train {more} more epochs", Role.AcceptRole),
                               [*_settings(name, RunRequest.resuming()), f"{name}.epochs={done + more}"])
            informative = (f"Train {more} more epochs continues that run from its last checkpoint "
                           f"to epoch {done + more}. ")
        else:
            label = f"Continue to {epochs} epochs" if finished else "Continue"
            choices["continue"] = (box.addButton(label, Role.AcceptRole), _settings(name, RunRequest.resuming()))
            informative = "Continue resumes that run from its last checkpoint. "
    else:
        box.setText(f"{name}: {conflict_summary(folder, state)}.")
        finished = False
    choices["new"] = (box.addButton(f"New folder ({suggestion.name})", Role.AcceptRole),
                      [f"{name}.{request.renamed(suggestion, run_dir)}"])
    choices["replace"] = (box.addButton("Replace (move to previous/)", Role.DestructiveRole),
                          _settings(name, RunRequest.replacing()))
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
