"""Re-running only what changed, on torch-free stub nodes shaped like a training graph:
Read (a data file) -> Fit (a "model" saved to a file, reused through its hook) -> Score (metrics)
and Say (text, written to a file)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from nodeflow.console import Console
from nodeflow.core import CheckpointError, Executor, Issue, NodeSpec, ParamSpec, PortSpec, Registry, plan
from nodeflow.core.cache import AGAIN, REUSE, RUN, SKIP, NodeCache, index_path, upstream
from nodeflow.core.spec import Reuse
from nodeflow.core.workflow import parse_workflow
from tests.core.stub_nodes import doc


class Rows:
    """Not JSON: a Read's outputs are never kept, only rebuilt."""

    def __init__(self, lines: list[str]):
        self.lines = lines


class Model:
    def __init__(self, weight: int, path: Path | None = None):
        self.weight, self.path = weight, path


def _read(ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    lines = (ctx.base_dir / params["path"]).read_text().split()
    ctx.log(f"read {len(lines)} lines")
    return {"rows": Rows(lines)}


def _fit(ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    weight = sum(map(int, inputs["rows"].lines)) * params["lr"]
    path = ctx.base_dir / "model.json"
    path.write_text(json.dumps({"weight": weight}))
    return {"model": Model(weight, path), "history": [weight]}


def _note(params: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
    path = outputs["model"].path
    return {"from": str(path), "what": "model", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _problem(note: Mapping[str, Any]) -> str | None:
    path = Path(note["from"])
    if not path.is_file():
        return f"its model {path.name} cannot be reused: file is missing"
    return None if hashlib.sha256(path.read_bytes()).hexdigest() == note["sha256"] else "model changed"


def _load(ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any], note: Mapping[str, Any]) -> dict[str, Any]:
    if not Path(note["from"]).is_file():
        raise CheckpointError(Issue("gone", file=note["from"]))
    return {"model": Model(json.loads(Path(note["from"]).read_text())["weight"], Path(note["from"]))}


def _score(ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    lines = inputs["rows"].lines
    metrics = {"score": float(inputs["model"].weight * len(lines)), "samples": len(lines)}
    ctx.report_metrics(metrics)
    return {"metrics": metrics}


def _say(ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    text = f"{params['prompt']} {inputs['model'].weight}"
    (Path.cwd() / params["out"]).write_text(text)
    ctx.log(text)
    return {}


READ = NodeSpec("c.read", "Read", "Test", _read, outputs=(PortSpec("rows", "dataset"),),
                params=(ParamSpec("path", "file", ""),))
FIT = NodeSpec("c.fit", "Fit", "Test", _fit, inputs=(PortSpec("rows", "dataset"),),
               outputs=(PortSpec("model", "model"), PortSpec("history", "history")),
               params=(ParamSpec("lr", "int", 1, min=0, max=100),), reuse=Reuse(_note, _problem, _load))
SCORE = NodeSpec("c.score", "Score", "Test", _score, inputs=(PortSpec("model", "model"), PortSpec("rows", "dataset")),
                 outputs=(PortSpec("metrics", "metrics"),), params=(ParamSpec("top", "int", 1, min=0, max=9),))
SAY = NodeSpec("c.say", "Say", "Test", _say, inputs=(PortSpec("model", "model"),),
               params=(ParamSpec("prompt", "str", "hi"), ParamSpec("out", "outfile", "said.txt")))
GRAPH = doc({"read": ("c.read", "Read", {"path": "data.txt"}), "fit": ("c.fit", "Fit", {}),
             "score": ("c.score", "Score", {}), "say": ("c.say", "Say", {})},
            ["read.rows>fit.rows", "fit.model>score.model", "read.rows>score.rows", "fit.model>say.model"])


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.txt").write_text("1\n2\n3\n")
    return tmp_path


def run(folder: Path, reuse: bool = True, registry: Registry | None = None, until: str = "",
        **params: dict[str, Any]) -> list[dict[str, Any]]:
    """One run of GRAPH (params: node id -> params changed), with reuse; its events."""
    d = json.loads(json.dumps(GRAPH))
    for node_id, changed in params.items():
        d["nodes"][node_id]["params"].update(changed)
    workflow = parse_workflow(d)
    workflow.path = folder / "graph.json"
    registry = registry or Registry([READ, FIT, SCORE, SAY])
    the_plan = plan(workflow, registry, outputs=False)  # what is on disk: the CLI's job
    the_plan = upstream(the_plan, until) if until else the_plan
    cache = NodeCache(index_path(workflow.path), workflow, the_plan, registry, None)
    seen: list[dict[str, Any]] = []
    Executor(registry, seen.append, cache=cache, steps=cache.steps() if reuse else None).run(workflow, the_plan)
    return seen


def started(seen: list[dict[str, Any]]) -> list[str]:
    return [e["node"] for e in seen if e["event"] == "node_start"]


def of(seen: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {e["node"]: e for e in seen if e["event"] == kind}


def test_an_unchanged_graph_runs_nothing_and_shows_its_last_results(folder: Path) -> None:
    first = run(folder)
    assert started(first) == ["Read", "Fit", "Score", "Say"]
    assert {e["reason"] for e in of(first, "node_rerun").values()} == {"not run before"}
    again = run(folder)
    assert started(again) == []
    reused = of(again, "node_reused")
    assert reused["Fit"]["from"] == str(folder / "model.json") and reused["Fit"]["what"] == "model"
    assert {reused[n]["from"] for n in ("Read", "Score", "Say")} == {"cache"}
    assert of(again, "metrics")["Score"]["reused"] is True
    assert again[-1]["metrics"] == first[-1]["metrics"] == {"Score": {"score": 18.0, "samples": 3}}
    assert of(again, "log")["Say"]["message"] == "hi 6"


def test_a_changed_leaf_runs_alone_and_gets_the_model_from_its_file(folder: Path) -> None:
    run(folder)
    seen = run(folder, say={"prompt": "bye"})
    assert started(seen) == ["Read", "Say"]  # Read: run again, its rows were not kept (Fit needs them to load)
    assert of(seen, "node_rerun")["Say"]["reason"] == "prompt changed"
    assert of(seen, "node_rerun")["Read"]["needed_by"] == ["Fit"]
    assert of(seen, "node_reused")["Fit"]["needed_by"] == ["Say"]
    assert of(seen, "log")["Say"]["message"] == "bye 6"  # the model loaded from Fit's file
    assert (folder / "said.txt").read_text() == "bye 6"
    assert "reused" in of(seen, "metrics")["Score"]  # skipped: its metrics shown again


def test_the_console_says_what_was_reused_and_why_the_others_run(folder: Path) -> None:
    run(folder)
    out = io.StringIO()
    for event in run(folder, say={"prompt": "bye"}):
        Console(out)(event)
    lines = out.getvalue().splitlines()
    for line in ("Read: run again (needed by Fit)", "Fit: reused, model from model.json (verified; needed by Say)",
                 "Score: unchanged, not run again", "Score: score 18.0000 (3 samples) (last run)",
                 "Say: runs (prompt changed)", "[Say] bye 6"):
        assert line in lines, out.getvalue()


def test_a_changed_param_runs_its_node_and_everything_downstream(folder: Path) -> None:
    run(folder)
    seen = run(folder, fit={"lr": 2})
    assert started(seen) == ["Read", "Fit", "Score", "Say"]
    reasons = {n: e["reason"] for n, e in of(seen, "node_rerun").items()}
    assert reasons["Fit"] == "lr changed" and reasons["Score"] == "Fit changed"
    assert seen[-1]["metrics"] == {"Score": {"score": 36.0, "samples": 3}}


def test_a_data_file_edited_on_disk_reruns_its_reader_and_everything_downstream(folder: Path) -> None:
    run(folder)
    (folder / "data.txt").write_text("1\n2\n4\n")
    seen = run(folder)
    assert started(seen) == ["Read", "Fit", "Score", "Say"]
    assert of(seen, "node_rerun")["Read"]["reason"] == "data.txt changed on disk"
    assert seen[-1]["metrics"] == {"Score": {"score": 21.0, "samples": 3}}


def test_a_model_file_gone_or_changed_makes_its_node_run_again_and_says_why(folder: Path) -> None:
    run(folder)
    (folder / "model.json").unlink()
    seen = run(folder)
    assert started(seen) == ["Read", "Fit", "Score", "Say"]
    assert of(seen, "node_rerun")["Fit"]["reason"] == "its model model.json cannot be reused: file is missing"
    assert of(seen, "node_rerun")["Score"]["reason"] == "Fit runs again"
    (folder / "model.json").write_text(json.dumps({"weight": 100}))
    assert of(run(folder), "node_rerun")["Fit"]["reason"] == "model changed"


def test_an_output_file_edited_or_removed_makes_its_writer_run_again(folder: Path) -> None:
    run(folder)
    (folder / "said.txt").unlink()
    seen = run(folder)
    assert of(seen, "node_rerun")["Say"]["reason"] == "said.txt was changed or removed since it was written"
    assert (folder / "said.txt").read_text() == "hi 6"


def test_a_new_version_of_a_node_type_changes_its_key_and_its_downstream(folder: Path) -> None:
    run(folder)
    newer = Registry([READ, dataclasses.replace(FIT, version=2), SCORE, SAY])
    seen = run(folder, registry=newer)
    assert started(seen) == ["Read", "Fit", "Score", "Say"]
    assert of(seen, "node_rerun")["Fit"]["reason"].startswith("its code changed")


def test_until_runs_a_node_and_what_it_needs_only(folder: Path) -> None:
    seen = run(folder, until="fit")
    assert seen[0]["nodes"] == ["Read", "Fit"] and started(seen) == ["Read", "Fit"]
    steps = _steps(folder)
    assert (steps["read"].action, steps["fit"].action, steps["score"].action) == (AGAIN, REUSE, RUN)
    assert steps["say"].action == RUN and steps["read"].needed_by == ("Fit", "Score")


def test_without_reuse_everything_runs_but_the_run_is_still_recorded(folder: Path) -> None:
    run(folder, reuse=False)
    assert started(run(folder, reuse=False)) == ["Read", "Fit", "Score", "Say"]
    assert {s.action for s in _steps(folder).values()} == {SKIP}


def _steps(folder: Path) -> dict[str, Any]:
    workflow = parse_workflow(GRAPH)
    workflow.path = folder / "graph.json"
    registry = Registry([READ, FIT, SCORE, SAY])
    the_plan = plan(workflow, registry, outputs=False)  # what is on disk: the CLI's job
    return NodeCache(index_path(workflow.path), workflow, the_plan, registry, None).steps()
