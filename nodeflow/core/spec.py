"""Node declarations: the single place a node type states its ports, params and behaviour.

Everything else (validation, CLI overrides, the `nodes` listing, docs, the editor's
widgets and dialogs) is derived from these frozen dataclasses.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# Port types. A link is allowed when the output's type equals the input's type.
PORT_TYPES = ("dataset", "model", "history", "metrics", "processor")  # processor: a tokenizer or image processor

# Param types and what they hold.
PARAM_TYPES = {
    "int": "an integer",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "choice": "one of the listed choices",
    "ints": "a list of integers (e.g. 64,32)",
    "file": "an existing file (relative to the workflow file)",
    "dir": "an existing folder (relative to the workflow file)",
    "outdir": "a folder to write into (relative to the current directory); created when missing",
    "outfile": "a file to write (relative to the current directory)",
}


# Words kept as spelled here wherever they appear in a param's title.
TITLE_WORDS = {"lr": "LR", "n": "N", "nan": "NaN", "kv": "KV", "id": "ID", "cpu": "CPU", "gpu": "GPU"}


def sentence_case(text: str) -> str:
    """First word capitalised, the rest lower case; acronyms (TITLE_WORDS, or written in capitals) kept."""
    words = [TITLE_WORDS.get(w.lower(), w if w.isupper() else w.lower()) for w in text.split()]
    return " ".join(words)[:1].upper() + " ".join(words)[1:]


@dataclass(frozen=True)
class PortSpec:
    """A typed input or output of a node."""

    name: str
    type: str
    help: str = ""
    optional: bool = False
    tasks: tuple[str, ...] = ()  # dataset ports: the tasks given (outputs) or taken (inputs); () = any
    # (processor ports: the kinds of processor, "tokenizer" or "image processor")
    passes: str = ""  # dataset outputs: give what this input gets (Split, augmentation)
    # outputs: which of `tasks` these params give (a Pretrained node's processor: a tokenizer or an image processor)
    gives: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None


@dataclass(frozen=True)
class ParamSpec:
    """A typed parameter with its default, bounds, choices and one-line help."""

    name: str
    type: str
    default: Any
    help: str = ""
    label: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()  # enforced for "choice"; suggestions for "str"
    allow_empty: bool = False  # for path params: "" is a valid "off" value
    writes: tuple[str, ...] = ()  # outdir params: the names (globs) a run writes inside the folder
    group: str = ""  # the dialog section it is shown in (NodeSpec.sections); "" = the first
    on_node: bool = False  # also shown, and editable, on the node's body in the editor

    @property
    def title(self) -> str:
        """The label users read: the declared label or the name, in sentence case ("Save every N epochs")."""
        return sentence_case(self.label or self.name.replace("_", " "))


@dataclass(frozen=True)
class CheckInput:
    """What a node's static `check` hook may look at: params, linked inputs, folders."""

    params: Mapping[str, Any]
    linked_inputs: frozenset[str]
    base_dir: Path
    input_tasks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # linked dataset inputs
    input_from: Mapping[str, str] = field(default_factory=dict)  # linked inputs: the "Node.port" feeding each


class RunContext(Protocol):
    """Side effects available to a node's `run`: events, logging, cancellation."""

    node_id: str
    node_name: str
    base_dir: Path
    device_override: str | None
    workflow_text: str
    dry_run: bool  # one batch through the graph, nothing written
    run_id: str  # the run's id in the run index, which a Trainer's new run folder takes ("" when not recorded)

    def emit(self, event: str, **fields: Any) -> None: ...

    def log(self, message: str) -> None: ...

    def should_stop(self) -> bool: ...

    def report_metrics(self, metrics: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Reuse:
    """How a node whose outputs are not plain JSON (a trained model) comes back from its own files
    when it is unchanged since its last run, instead of running again.

    `note(params, outputs)`, after a successful run: a JSON-able note of the files the outputs can
    be reloaded from; its "from" names the file (shown to the user), its "what" what comes back.
    `problem(note)`: why those files can no longer be used (gone, or not matching their manifest),
    or None; called on every run with reuse, so it checks the files without loading them.
    `load(ctx, inputs, params, note)`: the outputs, rebuilt from the files; a UserError when it
    cannot, and the node then runs instead.
    """

    note: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
    problem: Callable[[Mapping[str, Any]], str | None]
    load: Callable[[RunContext, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]


RunFn = Callable[[RunContext, Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]
CheckFn = Callable[[CheckInput], list[tuple[str, str]]]
MigrateFn = Callable[[dict[str, Any], int], dict[str, Any]]


@dataclass(frozen=True)
class NodeSpec:
    """The one declaration of a node type."""

    type: str  # stable id, e.g. "train.trainer"
    title: str
    category: str
    run: RunFn
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    params: tuple[ParamSpec, ...] = ()
    version: int = 1
    description: str = ""
    check: CheckFn | None = None  # cheap static checks: (field, message) pairs
    # What a run would meet on disk where the node writes (another run's files, foreign files).
    # plan() runs it; the parameter dialog does not, since the editor asks about these at Run.
    check_outputs: CheckFn | None = None
    migrate: MigrateFn | None = None  # (params saved at an older version, that version)
    rebuild: Callable[[Mapping[str, Any]], Any] | None = None  # model nodes: config -> module
    # model nodes whose rebuild runs the user's code: config -> ("file", absolute .py path) or
    # ("module", name); restore_model refuses those without trust_code=True
    runs_code: Callable[[Mapping[str, Any]], tuple[str, str]] | None = None
    warning: Callable[[Mapping[str, Any]], str] | None = None  # what the user should know before running it
    empty_outputs: Callable[[Mapping[str, Any]], set[str]] | None = None  # outputs these params leave empty
    reuse: Reuse | None = None  # unchanged since its last run: its outputs come back from its files
    # files it reads that no file/dir param names (a Pretrained node's model folder): (params, workflow
    # folder) -> {name shown when it changes: path}; their identity is part of the node's cache key
    reads: Callable[[Mapping[str, Any], Path], dict[str, Path]] | None = None
    sections: tuple[str, ...] = ()  # dialog sections, in order (params pick one with `group`)
    collapsed: tuple[str, ...] = ()  # sections shown closed until opened: the rarely changed ones
    extra: Mapping[str, Any] = field(default_factory=dict)
    # trains a model: the run's --resume, --overwrite, --device and --checkpoint-config apply to it
    trains: bool = False

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def input(self, name: str) -> PortSpec | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> PortSpec | None:
        return next((p for p in self.outputs if p.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}
