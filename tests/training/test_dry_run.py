"""`run --dry-run`: one batch through the graph, what flows on each link, model sizes, an ETA; nothing written."""
from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import WORKFLOWS, run_cli

DIVERGING = {
    "format": "nodeflow.workflow", "version": 1, "name": "diverging",
    "nodes": {
        "data": {"type": "data.synthetic", "name": "Data",
                 "params": {"samples": 200, "features": 64, "task": "regression"}},
        "mlp": {"type": "model.mlp", "name": "MLP", "params": {"hidden": [256, 256]}},
        "trainer": {"type": "train.trainer", "name": "Trainer",
                    "params": {"epochs": 5, "optimizer": "sgd", "lr": 10.0, "momentum": 1.0, "batch_size": 16}},
    },
    "links": [{"from": {"node": a, "port": b}, "to": {"node": c, "port": d}} for a, b, c, d in (
        ("data", "dataset", "mlp", "dataset"), ("mlp", "model", "trainer", "model"),
        ("data", "dataset", "trainer", "train"))],
}


def test_a_dry_run_shows_every_link_and_the_eta_and_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    (tmp_path / "checkpoints" / "wine_mlp" / "run_1").mkdir(parents=True)  # a used folder does not matter
    (tmp_path / "checkpoints" / "wine_mlp" / "test_predictions.csv").write_text("not ours")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    done = run_cli("run", str(WORKFLOWS / "wine_mlp.json"), "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for line in ("Wine.dataset: 178 × [13] float32 → 3 classes", "Split.train: 106 × [13] float32 → 3 classes",
                 "MLP.model: model.mlp: 1,027 parameters", "Trainer: 1,027 parameters", "ms per batch × 7 batches",
                 "for 40 epochs", "would write predictions"):
        assert line in out, (line, out)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # no checkpoint, CSV or run record


def test_a_dry_run_names_the_first_real_error_on_its_node(tmp_path: Path) -> None:
    (tmp_path / "wf.json").write_text(json.dumps(DIVERGING))
    done = run_cli("run", "wf.json", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2
    assert "node 'Trainer'" in done.stderr and "the loss is" in done.stderr and "lower lr" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.json"]
