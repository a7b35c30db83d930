"""Each node type is declared in the module that implements it, and `nodeflow nodes --verbose` says which."""
from __future__ import annotations

import pytest

from nodeflow import cli


def test_nodes_verbose_names_the_module_that_implements_each_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["nodes", "--verbose"]) == 0
    lines = capsys.readouterr().out.splitlines()
    declared = {line.split()[0]: lines[i + 1].split("declared in: ")[1]
                for i, line in enumerate(lines) if line and not line.startswith(" ")}
    assert len(declared) > 20 and "?" not in declared.values()
    assert {t: declared[t] for t in ("model.gpt", "model.modern_transformer", "model.bert", "model.vit",
                                     "model.clip", "model.mlp", "train.trainer")} == {
        "model.gpt": "nodes.gpt", "model.modern_transformer": "nodes.modern", "model.bert": "nodes.encoders",
        "model.vit": "nodes.encoders", "model.clip": "nodes.encoders", "model.mlp": "nodes.models",
        "train.trainer": "nodes.training"}
