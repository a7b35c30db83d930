"""A small workflow to sweep (the wine MLP without its Predict node: 178 rows, a trial in about a second),
one real two-trial study built once per session, and helpers to run `nodeflow sweep` as a user would
and read its study back."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WORKFLOWS, build_once

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


SEARCH = ["--param", LR, "--param", "Trainer.batch_size=choice:8,32"]


def _two_trials(folder: Path) -> None:
    from nodeflow import cli

    wine = small_workflow(folder, epochs=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        assert cli.main(["sweep", str(wine), *SEARCH, "--trials", "2", "--pruner", "none", "--seed", "0"]) == 0


@pytest.fixture(scope="session")
def built_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding wine.json and its real study, sweeps/wine/study.db (two complete trials of one epoch
    over Trainer.lr and Trainer.batch_size): copy it before changing anything."""
    return build_once(tmp_path_factory, "wine_study", _two_trials)
