"""The run folder's owner: validation, the editor and the Trainer see the same folder and the same conflicts."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from nodeflow.checkpoints.run_request import RunRequest


def test_validation_and_the_trainer_agree_on_the_folder_and_on_who_may_continue_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fresh = RunRequest.of({"checkpoint_dir": "ck", "resume": "", "overwrite": False})
    run = fresh.named("mlp", "digits", "20240101_000000").claim("hash", print)
    assert run.path == fresh.planned() == Path("ck") and run.run_id
    assert pickle.loads(pickle.dumps(run)) == run  # it crosses to torchrun's other ranks
    again = fresh.conflict()
    assert again is not None and run.run_id in again and "--resume auto" in again
    assert RunRequest.of({"checkpoint_dir": "ck", "resume": "auto"}).conflict() is None
    assert RunRequest.of({"checkpoint_dir": "ck", "resume": "", "overwrite": True}).conflict() is None
    os.symlink(tmp_path, tmp_path / "ck" / "history")
    linked = RunRequest.of({"checkpoint_dir": "ck", "resume": "auto"}).conflict()
    assert linked is not None and "history" in linked and "link" in linked
