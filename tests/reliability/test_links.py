"""Links in a run folder: nothing is written, appended, moved or deleted through a symbolic link.

A link where NodeFlow keeps its own file or folder (the log, history/, metrics/, tensorboard/,
backups/, previous/) stops the command with one line naming it (exit 2); the link's target is
left byte for byte, and the manifest still agrees with the folder. A checkpoint_dir that is
itself a link the user made (checkpoints -> /big/disk) keeps working.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from nodeflow.checkpoints import CheckpointConfig, CheckpointManager
from nodeflow.checkpoints.manifest import read_entries, verify_file
from nodeflow.checkpoints.run_folder import move_aside
from nodeflow.checkpoints.run_request import RunFolder
from nodeflow.core.errors import CheckpointError
from nodeflow.training.history import HistoryFiles
from tests.conftest import WORKFLOWS, build_once, run_cli

WINE = str(WORKFLOWS / "wine_mlp.json")
QUICK = ["--set", "Trainer.save_every_n_epochs=1", "--set", "Predict.path=pred.csv", "--set", "Predict.overwrite=true"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (links not followed) by relative path, with its SHA-256 or link target."""
    return {str(p.relative_to(folder)): f"-> {p.readlink()}" if p.is_symlink() else
            hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_symlink() or p.is_file()}


def agrees(folder: Path) -> None:
    """The manifest and the folder agree: every entry's file verifies, every checkpoint file has an entry."""
    entries = read_entries(folder)
    assert entries
    for name, entry in entries.items():
        assert verify_file(folder / name, entry) is None, name
    assert {p.name for p in folder.glob("*.pt")} == set(entries)


def one_error(done: subprocess.CompletedProcess[str], link: str) -> None:
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"{link} is a link" in line and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wine run with two epochs, a checkpoint each, and backups (trained once, copied by each test)."""
    def build(folder: Path) -> None:
        done = run_cli("run", WINE, *QUICK, "--set", "Trainer.epochs=2", "--set", "Trainer.checkpoint_dir=ck",
                       "--set", "Trainer.backup_checkpoints=true", cwd=folder)
        assert done.returncode == 0, done.stderr

    return build_once(tmp_path_factory, "links_wine", build) / "ck"


def plant(run: Path, name: str, outside: Path) -> None:
    """Move the run's own `name` out to `outside` and leave a link to it in its place."""
    shutil.move(run / name, outside)
    (run / name).symlink_to(outside)


def test_a_linked_training_log_is_not_appended_on_resume(trained: Path, tmp_path: Path) -> None:
    run = tmp_path / "ck"
    shutil.copytree(trained, run)
    plant(run, "training_log.txt", tmp_path / "elsewhere.txt")
    before, folder = (tmp_path / "elsewhere.txt").read_bytes(), snapshot(run)
    done = run_cli("run", WINE, *QUICK, "--set", "Trainer.epochs=3", "--set", "Trainer.checkpoint_dir=ck",
                   "--resume", "auto", cwd=tmp_path)
    one_error(done, "ck/training_log.txt")
    assert (tmp_path / "elsewhere.txt").read_bytes() == before
    assert snapshot(run) == folder
    agrees(run)


def test_validate_names_a_link_in_the_run_folder(trained: Path, tmp_path: Path) -> None:
    shutil.copytree(trained, tmp_path / "ck")
    plant(tmp_path / "ck", "history", tmp_path / "elsewhere")
    done = run_cli("validate", WINE, "--set", "Trainer.checkpoint_dir=ck", "--set", "Trainer.resume=auto",
                   cwd=tmp_path)
    assert done.returncode == 2 and "field 'checkpoint_dir'" in done.stderr, done.stderr
    assert "ck/history is a link" in done.stderr


@pytest.mark.parametrize("name", ["history", "metrics", "tensorboard"])
def test_a_linked_history_folder_is_not_written_on_resume(trained: Path, tmp_path: Path, name: str) -> None:
    """checkpoint_dir ck/{run}: the run folder is named only when the Trainer starts, so this is the
    Trainer's own check, not validation's."""
    run = tmp_path / "ck" / "run_1"
    shutil.copytree(trained, run)
    plant(run, name, tmp_path / "elsewhere")
    before, folder = snapshot(tmp_path / "elsewhere"), snapshot(run)
    done = run_cli("run", WINE, *QUICK, "--set", "Trainer.epochs=3", "--set", "Trainer.checkpoint_dir=ck/{run}",
                   "--resume", "auto", cwd=tmp_path)
    one_error(done, f"ck/run_1/{name}")
    assert snapshot(tmp_path / "elsewhere") == before
    assert snapshot(run) == folder
    agrees(run)


def previous_linked(trained: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the trained run whose previous/ is a link to an empty folder `elsewhere`, and its snapshot."""
    run = tmp_path / "ck"
    shutil.copytree(trained, run)
    (tmp_path / "elsewhere").mkdir()
    (run / "previous").symlink_to(tmp_path / "elsewhere")
    return run, snapshot(run)


def test_overwrite_never_moves_the_run_through_a_previous_link(trained: Path, tmp_path: Path) -> None:
    run, folder = previous_linked(trained, tmp_path)
    done = run_cli("run", WINE, *QUICK, "--set", "Trainer.epochs=1", "--set", "Trainer.checkpoint_dir=ck",
                   "--set", "Trainer.overwrite=true", cwd=tmp_path)
    one_error(done, "previous")
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert snapshot(run) == folder
    agrees(run)


def test_move_aside_refuses_a_previous_link_before_moving_anything(trained: Path, tmp_path: Path) -> None:
    run, folder = previous_linked(trained, tmp_path)
    with pytest.raises(CheckpointError, match="previous is a link"):
        move_aside(run, "old-run")
    assert list((tmp_path / "elsewhere").iterdir()) == [] and snapshot(run) == folder


@pytest.mark.parametrize("command", [["prune", "ck", "--keep", "0"], ["delete", "ck/checkpoint_epoch_1.pt"]])
def test_prune_and_delete_change_nothing_when_backups_is_a_link(trained: Path, tmp_path: Path,
                                                               command: list[str]) -> None:
    run = tmp_path / "ck"
    shutil.copytree(trained, run)
    plant(run, "backups", tmp_path / "elsewhere")
    before, folder = snapshot(tmp_path / "elsewhere"), snapshot(run)
    done = run_cli("ckpt", *command, cwd=tmp_path)
    one_error(done, "ck/backups")
    assert snapshot(tmp_path / "elsewhere") == before
    assert snapshot(run) == folder
    agrees(run)


def test_prune_refuses_a_checkpoint_that_is_a_link(trained: Path, tmp_path: Path) -> None:
    run = tmp_path / "ck"
    shutil.copytree(trained, run)
    plant(run, "checkpoint_epoch_2.pt", tmp_path / "elsewhere.pt")
    before, folder = (tmp_path / "elsewhere.pt").read_bytes(), snapshot(run)
    one_error(run_cli("ckpt", "prune", "ck", "--keep", "0", cwd=tmp_path), "ck/checkpoint_epoch_2.pt")
    assert (tmp_path / "elsewhere.pt").read_bytes() == before and snapshot(run) == folder


def test_a_tag_never_replaces_a_linked_manifest(trained: Path, tmp_path: Path) -> None:
    run = tmp_path / "ck"
    shutil.copytree(trained, run)
    plant(run, "manifest.json", tmp_path / "elsewhere.json")
    before, folder = (tmp_path / "elsewhere.json").read_bytes(), snapshot(run)
    done = run_cli("ckpt", "tag", "ck/checkpoint_epoch_1.pt", "--add", "kept", cwd=tmp_path)
    one_error(done, "ck/manifest.json")
    assert (tmp_path / "elsewhere.json").read_bytes() == before and snapshot(run) == folder


def test_keep_last_n_rotation_checks_every_target_first(tmp_path: Path) -> None:
    """The CheckpointManager's rotation (max_checkpoints) with backups/ made a link between saves: the
    new file is saved and listed, nothing is deleted, and the manifest agrees with the folder."""
    manager = CheckpointManager(CheckpointConfig(checkpoint_dir=tmp_path / "ck", max_checkpoints=2,
                                                 monitor_metric="loss"))
    model = torch.nn.Linear(2, 1)
    for epoch, loss in ((1, 0.5), (2, 0.6)):
        manager.save_checkpoint(model, epoch=epoch, step=epoch, metrics={"loss": loss})
    plant(tmp_path / "ck", "backups", tmp_path / "elsewhere")
    before = snapshot(tmp_path / "elsewhere")
    with pytest.raises(CheckpointError, match="backups is a link"):
        manager.save_checkpoint(model, epoch=3, step=3, metrics={"loss": 0.7})
    assert snapshot(tmp_path / "elsewhere") == before
    agrees(tmp_path / "ck")
    assert len(read_entries(tmp_path / "ck")) == 3


@pytest.mark.parametrize("name", ["training_log.txt", "history", "metrics"])
def test_history_files_are_never_written_through_a_link_made_during_a_run(tmp_path: Path, name: str) -> None:
    """A link that appears after the run folder was claimed: the writer itself refuses it."""
    run = tmp_path / "ck"
    run.mkdir()
    outside = tmp_path / "elsewhere"
    if name.endswith(".txt"):
        outside.write_text("not NodeFlow's\n")
    else:
        outside.mkdir()
        (outside / "notes.json").write_text("{}\n")
    (run / name).symlink_to(outside)
    before = snapshot(tmp_path)
    history = HistoryFiles(RunFolder(run), lambda event, **fields: None, {"model": {"type": "model.mlp"}}, "{}")
    history.tensorboard = None
    with pytest.raises(CheckpointError, match=f"{name} is a link"):
        history("checkpoint_saved", kind="best", path=str(run / "best_model.pt"), monitor="val_loss", value=0.5)
        history("epoch_end", epoch=1, epochs=1, step=4, metrics={"train_loss": 0.5, "val_loss": 0.4})
    assert {k: v for k, v in snapshot(tmp_path).items() if k.startswith("elsewhere")} == \
        {k: v for k, v in before.items() if k.startswith("elsewhere")}


def test_a_checkpoint_dir_that_is_itself_a_link_keeps_working(trained: Path, tmp_path: Path) -> None:
    """The rule is about what is inside a run folder: a checkpoint_dir the user linked elsewhere resumes."""
    shutil.copytree(trained, tmp_path / "big_disk")
    (tmp_path / "ck").symlink_to(tmp_path / "big_disk")
    done = run_cli("run", WINE, *QUICK, "--set", "Trainer.epochs=3", "--set", "Trainer.checkpoint_dir=ck",
                   "--resume", "auto", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "big_disk" / "checkpoint_epoch_3.pt").is_file()
    agrees(tmp_path / "big_disk")
