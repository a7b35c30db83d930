"""`--set NODE.PARAM=VALUE` is typed by the declaration and reports every bad item."""
from __future__ import annotations

import pytest

from nodeflow.core import UserError, apply_overrides
from nodeflow.core.workflow import parse_workflow
from tests.core.stub_nodes import doc, registry


def test_values_are_converted_to_the_param_type() -> None:
    workflow = parse_workflow(doc({"s": ("t.source", "Src", {})}, []))
    apply_overrides(workflow, registry(), ["Src.value=42", "Src.mode=b", "Src.folder="])
    assert workflow.nodes["s"].params == {"value": 42, "mode": "b", "folder": ""}


def test_all_bad_overrides_are_reported_together() -> None:
    workflow = parse_workflow(doc({"s": ("t.source", "Src", {})}, []))
    with pytest.raises(UserError) as info:
        apply_overrides(workflow, registry(), ["Src.value=abc", "Nobody.value=1", "Src.nope=1", "garbage"])
    text = str(info.value)
    assert "expected an integer, got 'abc'" in text
    assert "no node named 'Nobody' (nodes: Src)" in text
    assert "field 'nope'" in text and "unknown param" in text
    assert "expected NODE.PARAM=VALUE" in text
    assert workflow.nodes["s"].params == {}
