"""The executor runs nodes in order, emits plain events and names the node that failed."""
from __future__ import annotations

import json
import threading

import pytest

from nodeflow.core import Executor, NodeRunError, RunInterrupted, plan
from nodeflow.core.workflow import parse_workflow
from tests.core.stub_nodes import doc, registry


def run(d: dict, stop: threading.Event | None = None) -> tuple[list[dict], object]:
    seen: list[dict] = []
    workflow = parse_workflow(d, "w.json")
    reg = registry()
    result = Executor(reg, seen.append, stop=stop).run(workflow, plan(workflow, reg))
    return seen, result


def test_outputs_flow_along_links_and_metrics_reach_run_end() -> None:
    d = doc({"sink": ("t.sink", "Total", {}), "add": ("t.add", "Add", {"value": 5}),
             "s": ("t.source", "S", {"value": 3})}, ["s.out>add.a", "add.out>sink.a"])
    seen, result = run(d)
    kinds = [e["event"] for e in seen]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert [e["node"] for e in seen if e["event"] == "node_start"] == ["S", "Add", "Total"]
    assert seen[-1]["status"] == "completed"
    assert seen[-1]["metrics"] == {"Total": {"total": 8}}
    assert {"event": "log", "node": "S", "message": "source 3"}.items() <= seen[2].items()
    for event in seen:
        json.dumps(event)  # every event is plain JSON


def test_a_failing_node_is_named_and_the_run_ends_failed() -> None:
    d = doc({"s": ("t.source", "S", {}), "b": ("t.boom", "Exploder", {})}, ["s.out>b.a"])
    seen: list[dict] = []
    workflow = parse_workflow(d)
    with pytest.raises(NodeRunError) as info:
        Executor(registry(), seen.append).run(workflow, plan(workflow, registry()))
    assert info.value.node == "Exploder"
    assert "ZeroDivisionError" in str(info.value)
    errors = [e for e in seen if e["event"] == "error"]
    assert errors and errors[0]["node"] == "Exploder"
    assert seen[-1]["event"] == "run_end" and seen[-1]["status"] == "failed"


def test_a_stop_request_interrupts_before_the_next_node() -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(RunInterrupted):
        run(doc({"s": ("t.source", "S", {})}, []), stop)
