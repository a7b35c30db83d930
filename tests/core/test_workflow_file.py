"""Workflow files: round-trip, structural errors, versions and migration."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodeflow.core import WorkflowFileError, load_workflow, plan, save_workflow
from nodeflow.core.workflow import dumps, parse_workflow
from tests.conftest import WORKFLOWS
from tests.core.stub_nodes import doc, registry


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.json")), ids=lambda p: p.name)
def test_saving_a_loaded_example_gives_the_same_bytes(path: Path, tmp_path: Path) -> None:
    copy = tmp_path / path.name
    save_workflow(load_workflow(path), copy)
    assert copy.read_bytes() == path.read_bytes()


def test_layout_is_carried_through_untouched(tmp_path: Path) -> None:
    d = doc({"s": ("t.source", "S", {})}, [])
    d["layout"] = {"nodes": {"s": {"pos": [10.5, -3], "color": "#ff0000"}}, "backdrops": [{"title": "x"}]}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(d))
    save_workflow(load_workflow(path), tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["layout"] == d["layout"]


@pytest.mark.parametrize("text, expected", [
    ("", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"format": "other", "version": 1}', "'format' must be"),
    ('{"format": "nodeflow.workflow", "version": 99, "nodes": {}}', "newer NodeFlow"),
    ('{"format": "nodeflow.workflow", "version": 1, "nodes": []}', "'nodes' must be an object"),
    ("[" * 100000, "not valid JSON"),
])
def test_broken_files_give_one_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(WorkflowFileError) as info:
        load_workflow(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_duplicate_names_and_bad_links_are_all_reported() -> None:
    d = doc({"a": ("t.source", "Same", {}), "b": ("t.source", "Same", {})}, [])
    d["links"] = [{"from": "a.out", "to": "b.a"}]
    with pytest.raises(WorkflowFileError) as info:
        parse_workflow(d, "w.json")
    messages = [i.message for i in info.value.issues]
    assert any("names must be unique" in m for m in messages)
    assert any("link #1" in m for m in messages)


def test_node_saved_at_an_older_version_is_migrated() -> None:
    d = doc({"s": ("t.source", "S", {"amount": 7})}, [])
    d["nodes"]["s"]["version"] = 1
    workflow = parse_workflow(d)
    result = plan(workflow, registry())
    assert result.params["s"]["value"] == 7
    assert workflow.nodes["s"].version == 2
    assert '"amount"' not in dumps(workflow)


def test_node_saved_by_a_newer_version_is_refused() -> None:
    d = doc({"s": ("t.source", "S", {})}, [])
    d["nodes"]["s"]["version"] = 3
    with pytest.raises(Exception) as info:
        plan(parse_workflow(d), registry())
    assert "newer t.source" in str(info.value)
