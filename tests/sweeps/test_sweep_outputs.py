"""A sweep's trials write every output (Predict's CSV as well as checkpoints) inside their own
folder: the user's own run's files at the workflow's paths are left as they were."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodeflow import cli
from tests.conftest import WORKFLOWS


def test_each_trial_writes_its_predictions_in_its_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads((WORKFLOWS / "wine_mlp.json").read_text())
    doc["nodes"]["wine"]["params"]["path"] = str(WORKFLOWS / "data" / "wine.csv")
    doc["nodes"]["trainer"]["params"].update(epochs=1, async_save=False)
    path = tmp_path / "wine.json"
    path.write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / doc["nodes"]["predict"]["params"]["path"]
    mine.parent.mkdir(parents=True)
    mine.write_text("the user's own predictions\n")
    assert cli.main(["sweep", str(path), "--param", "Trainer.lr=choice:0.01,0.001", "--trials", "2",
                     "--pruner", "none"]) == 0
    assert mine.read_text() == "the user's own predictions\n"
    for n in (0, 1):
        written = tmp_path / "sweeps" / "wine" / f"trial_{n}" / mine.name
        assert written.read_text().count("\n") > 10, written  # a header and a row per test sample
