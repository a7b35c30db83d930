"""A small workflow to sweep (the wine MLP without its Predict node: 178 rows, a trial in about a second)
and helpers to run `nodeflow sweep` as a user would and read its study back."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WORKFLOWS

LR = "Trainer.lr=loguniform:1e-4:3e-2"


def small_workflow(folder: Path, epochs: int = 2) -> Path:
    doc = json.loads((WORKFLOWS / "wine_mlp.json").read_text())
    del doc["nodes"]["predict"]
    doc["links"] = [link for link in doc["links"] if "predict" not in (link["from"]["node"], link["to"]["node"])]
    doc["nodes"]["wine"]["params"]["path"] = str(WORKFLOWS / "data" / "wine.csv")
    doc["nodes"]["trainer"]["params"].update(epochs=epochs, save_every_n_epochs=1, async_save=False)
    path = folder / "wine.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


def load(folder: Path, name: str = "wine") -> Any:
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'sweeps' / name / 'study.db'}")


@pytest.fixture
def wine(tmp_path: Path) -> Path:
    return small_workflow(tmp_path)
