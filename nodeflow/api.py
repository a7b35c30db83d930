"""Workflows from Python and notebooks: load a workflow file, change params, run it, save it.

    import nodeflow
    wf = nodeflow.load("workflows/digits_cnn.json")
    wf["Trainer"].params["checkpoint_dir"] = "runs/a"   # checked like --set: one-line error naming node and field
    wf["Trainer"].config["num_epochs"] = 3               # config: the same params; num_epochs is epochs
    result = wf.run()                                    # what `nodeflow run` does, in this process
    result["Trainer"]["model"], result.metrics["Evaluate"], result.checkpoints["Trainer"]
    wf.save("workflows/digits_short.json")

A run goes through the run service that `nodeflow run` uses (nodeflow.running): the same checks before
anything starts, the same console lines, a progress bar (tqdm.auto's: a widget in a notebook),
the run recorded for `nodeflow runs`, and Ctrl-C (a notebook's interrupt) stopping after the
current batch with a resumable checkpoint, then raising KeyboardInterrupt. Nothing here imports
torch or Qt until a workflow is loaded.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodeflow.core.errors import Issue, RunInterrupted, UserError, WorkflowFileError
from nodeflow.core.overrides import set_param
from nodeflow.core.registry import Registry
from nodeflow.core.workflow import Node, Workflow, load_workflow, parse_workflow, save_workflow

if TYPE_CHECKING:
    from nodeflow.running import RunOptions

__all__ = ["load", "Flow", "NodeHandle", "Params", "Result"]

_CLAIMED: set[Path] = set()  # checkpoint folders the runs of this Python process claimed
ALIASES = {"num_epochs": "epochs"}  # the names Trainer configs use elsewhere, for the same param


def load(path: str | Path) -> Flow:
    """The workflow file at `path`, ready to change and run (WorkflowFileError: one line naming the file)."""
    from nodeflow.core.registry import default_registry

    return Flow(load_workflow(path), default_registry())


class Params(MutableMapping[str, Any]):
    """A node's params: every value the node runs with (defaults included); setting one converts and
    checks it by the node's declaration, as `--set` does, and raises UserError naming node and field."""

    def __init__(self, flow: Flow, node: Node):
        self._flow, self._node = flow, node

    def _name(self, key: str) -> str:
        spec = self._flow.registry.get(self._node.type)
        if spec is not None and spec.param(key) is None and key in ALIASES and spec.param(ALIASES[key]):
            return ALIASES[key]
        return key

    def __getitem__(self, key: str) -> Any:
        key = self._name(key)
        if key in self._node.params:
            return self._node.params[key]
        spec = self._flow.registry.get(self._node.type)
        param = spec.param(key) if spec else None
        if param is None:
            raise KeyError(key)
        return param.default

    def __setitem__(self, key: str, value: Any) -> None:
        issue = set_param(self._flow.workflow, self._flow.registry, self._node.name, self._name(key), value)
        if issue is not None:
            raise UserError(issue)

    def __delitem__(self, key: str) -> None:
        """Back to the declared default."""
        self._node.params.pop(self._name(key), None)

    def _names(self) -> list[str]:
        spec = self._flow.registry.get(self._node.type)
        declared = [p.name for p in spec.params] if spec else []
        return declared + [k for k in self._node.params if k not in declared]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(dict(self))


@dataclass
class NodeHandle:
    """One node of a Flow: `params` (also as `config`), its `name` and `type`."""

    flow: Flow
    node: Node

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def type(self) -> str:
        return self.node.type

    @property
    def params(self) -> Params:
        return Params(self.flow, self.node)

    config = params  # trainer.config['checkpoint_dir'] = ..., as Trainer configs are often written

    def __repr__(self) -> str:
        return f"<{self.type} node {self.name!r}>"


@dataclass
class Result:
    """What a run produced, by node name: `result["Trainer"]` its outputs (the trained model, the
    history…), `metrics[name]` what it reported, `checkpoints[name]` the files it saved (each once, in
    the order first saved)."""

    outputs: dict[str, dict[str, Any]]
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoints: dict[str, list[Path]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> dict[str, Any]:
        if name not in self.outputs:
            raise KeyError(f"no outputs from a node named {name!r} (nodes that ran: {', '.join(self.outputs)})")
        return self.outputs[name]


class Flow:
    """A workflow in memory: `wf["Trainer"]`, `run()`, `validate()`, `save(path)`."""

    def __init__(self, workflow: Workflow, registry: Registry):
        self.workflow, self.registry = workflow, registry

    @property
    def path(self) -> Path | None:
        return self.workflow.path

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.workflow.nodes.values()]

    def __getitem__(self, name: str) -> NodeHandle:
        node = self.workflow.node_by_name(name)
        if node is None:
            raise UserError(Issue(f"no node named {name!r} (nodes: {', '.join(self.nodes)})", file=self.workflow.label))
        return NodeHandle(self, node)

    def __repr__(self) -> str:
        return f"<workflow {self.workflow.label}: {', '.join(self.nodes)}>"

    def validate(self) -> None:
        """Every problem that would stop a run, before it starts (ValidationError: one line per issue)."""
        from nodeflow import running

        running.prepare(self._copy(), self._options())

    def run(self, *, device: str | None = None, resume: str | None = None, reuse: bool = False,
            until: str | None = None, overwrite: bool = False, progress: bool = True,
            on_event: Callable[[dict[str, Any]], None] | None = None) -> Result:
        """Run as `nodeflow run` would (the options are its --device, --resume, --reuse, --until and
        --overwrite); `on_event` sees every event. Ctrl-C stops after the current batch, keeps a
        resumable checkpoint and raises KeyboardInterrupt naming it; run(resume="auto") continues."""
        from nodeflow import running
        from nodeflow.console import Console

        rerun = not resume and not overwrite and self._reruns_own_folders()
        options = self._options(device=device, resume=resume, until=until, reuse=reuse, overwrite=overwrite or rerun)
        collected = _Collector(on_event)
        bar = _auto_bar() if progress else None
        console = Console(sys.stdout, sys.stderr if bar else None, bar=bar)

        def sink(event: dict[str, Any]) -> None:
            console(event)
            collected(event)

        try:
            outcome = running.run(running.prepare(self._copy(), options), sink)
        except RunInterrupted:
            kept = collected.kept("interrupt")
            where = f"; resumable checkpoint: {kept} (continue with run(resume='auto'))" if kept else ""
            raise KeyboardInterrupt(f"run interrupted after the current batch{where}") from None
        finally:
            _CLAIMED.update(collected.folders)
        names = {node_id: node.name for node_id, node in self.workflow.nodes.items()}
        return Result({names[i]: dict(o) for i, o in outcome.outputs.items()}, dict(outcome.metrics),
                      collected.checkpoints)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the workflow file atomically. Another existing file is replaced only with
        overwrite=True; this flow's own file (loaded or last saved) always is. Relative input paths
        (file and folder params) are rewritten to start from the new file's folder, so they still
        name the same files."""
        path = Path(path)
        own = self.path is not None and path.resolve() == self.path.resolve()
        if path.exists() and not own and not overwrite:
            raise UserError(Issue("exists and is not this workflow's file; not replaced (save(path, overwrite=True) "
                                  "replaces it)", file=str(path)))
        if path.is_dir():
            raise UserError(Issue("is a folder; give a file name ending in .json", file=str(path)))
        try:
            save_workflow(self.workflow, path, self.registry)  # relative inputs rebased for a new folder
        except OSError as exc:
            raise WorkflowFileError(Issue(f"cannot save: {exc.strerror or exc}; nothing was changed on disk",
                                          file=str(path))) from None
        return path

    def _reruns_own_folders(self) -> bool:
        """Whether every Trainer folder in the way holds a run this Python process made (a notebook cell
        run again): run() then moves those runs to previous/ as overwrite=True does, and says so. A run of
        another process in the way still stops the run, with its one line."""
        from nodeflow.checkpoints.run_request import RunRequest

        in_the_way = []
        for node in self.workflow.nodes.values():
            spec = self.registry.get(node.type)
            request = RunRequest.of({**spec.defaults(), **node.params}) if spec and spec.trains else None
            folder = request.planned() if request else None
            if request and folder is not None and request.at(folder).in_the_way() is not None:
                in_the_way.append(request.at(folder).checkpoints.resolve())
        return bool(in_the_way) and all(folder in _CLAIMED for folder in in_the_way)

    def _copy(self) -> Workflow:
        """The workflow as a run sees it: a copy, so --resume and --overwrite leave this flow alone."""
        copy = parse_workflow(self.workflow.to_dict(), self.workflow.label)
        copy.path = self.workflow.path
        return copy

    def _options(self, **given: Any) -> RunOptions:
        from nodeflow.running import RunOptions

        if self.path is None or not self.path.is_file():
            raise UserError(Issue("this workflow has no file yet: save(path) first (relative paths and the run "
                                  "record go by its folder)", file=self.workflow.label))
        return RunOptions(**{k: v for k, v in given.items() if v})


class _Collector:
    """Keeps what a Result reports from the events: the checkpoint files each node saved."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None):
        self.on_event = on_event
        self.checkpoints: dict[str, list[Path]] = {}
        self.kinds: list[tuple[str, Path]] = []
        self.folders: set[Path] = set()  # the checkpoint folders the run's Trainers claimed

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "fit_start" and event.get("checkpoint_dir"):
            self.folders.add(Path(event["checkpoint_dir"]).resolve())
        if event["event"] == "checkpoint_saved" and event.get("path"):
            saved, path = self.checkpoints.setdefault(event.get("node", ""), []), Path(event["path"])
            saved += [] if path in saved else [path]  # best_model.pt is saved again at each improvement
            self.kinds.append((event.get("kind", ""), path))
        if self.on_event is not None:
            self.on_event(event)

    def kept(self, kind: str) -> Path | None:
        return next((path for k, path in reversed(self.kinds) if k == kind), None)


def _auto_bar() -> Any:
    """tqdm.auto's class: a widget in a notebook that has ipywidgets, else the text bar (tqdm's
    notebook bar cannot draw without ipywidgets and would fail the run when it starts)."""
    import importlib.util
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tqdm's advice to install ipywidgets: the text bar works
        from tqdm.auto import tqdm as auto_bar
    if "notebook" in auto_bar.__module__ and importlib.util.find_spec("ipywidgets") is None:
        from tqdm.std import tqdm as text_bar

        return text_bar
    return auto_bar

