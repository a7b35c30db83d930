"""The node reference in docs/ is the one the declarations generate."""
from __future__ import annotations

from nodeflow.core import default_registry
from nodeflow.core.reference import markdown_reference
from tests.conftest import ROOT


def test_docs_node_reference_matches_the_declarations() -> None:
    expected = markdown_reference(default_registry()) + "\n"
    assert (ROOT / "docs" / "nodes.md").read_text() == expected, \
        "regenerate with: python main.py nodes --markdown > docs/nodes.md"
