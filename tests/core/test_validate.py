"""Validation reports every problem at once, each tied to its node and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from nodeflow.core import ValidationError, plan
from nodeflow.core.workflow import parse_workflow
from tests.core.stub_nodes import doc, registry


def issues_of(d: dict) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as info:
        plan(parse_workflow(d, "w.json"), registry())
    return [(i.node, i.field, i.message) for i in info.value.issues]


def test_a_good_graph_gets_a_topological_plan() -> None:
    d = doc({"sum": ("t.add", "Sum", {}), "s1": ("t.source", "One", {}), "s2": ("t.source", "Two", {})},
            ["s1.out>sum.a", "s2.out>sum.b"])
    result = plan(parse_workflow(d), registry())
    assert result.order.index("sum") > max(result.order.index("s1"), result.order.index("s2"))
    assert result.params["s1"] == {"value": 1, "mode": "a", "folder": ""}


def test_every_issue_is_reported_in_one_pass() -> None:
    d = doc({
        "s": ("t.source", "S", {"value": "ten", "mode": "z", "colour": 1}),
        "x": ("t.nope", "X", {}),
        "add": ("t.add", "Add", {"value": 101}),
        "m": ("t.model_sink", "M", {}),
    }, ["s.out>m.a", "s.out>add.c"])
    found = issues_of(d)
    assert ("S", "value", "expected an integer, got 'ten'") in found
    assert ("S", "mode", "must be one of a, b (got 'z')") in found
    assert any(n == "S" and f == "colour" and "unknown param" in m for n, f, m in found)
    assert ("X", "type", "unknown node type 't.nope'") in found
    assert ("Add", "value", "must be at most 100 (got 101)") in found
    assert any(n == "M" and f == "a" and "cannot connect dataset output" in m for n, f, m in found)
    assert ("Add", "c", "no input port named 'c'") in found
    assert any(n == "Add" and f == "a" and "not connected" in m for n, f, m in found)


def test_a_cycle_names_its_nodes() -> None:
    d = doc({"a": ("t.add", "A", {}), "b": ("t.add", "B", {}), "s": ("t.source", "S", {})},
            ["a.out>b.a", "b.out>a.a", "s.out>a.b"])
    found = issues_of(d)
    assert any("part of a cycle: A -> B -> A" in m or "part of a cycle: B -> A -> B" in m
               for _, _, m in found)


def test_unwritable_output_folder_is_caught_before_anything_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    d = doc({"s": ("t.source", "S", {"folder": str(blocker / "sub")})}, [])
    found = issues_of(d)
    assert any(f == "folder" and "is not a folder" in m for _, f, m in found)
    assert not (tmp_path / "a_file" / "sub").exists()


def test_two_links_into_one_input_are_refused() -> None:
    d = doc({"s1": ("t.source", "S1", {}), "s2": ("t.source", "S2", {}), "add": ("t.add", "Add", {})},
            ["s1.out>add.a", "s2.out>add.a"])
    assert ("Add", "a", "input has more than one link") in issues_of(d)
