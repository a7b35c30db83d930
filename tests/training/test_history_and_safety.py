"""History files beside the checkpoints, experiment naming, change reports, safe loading everywhere."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch

from nodeflow.core import Link, Node, load_workflow, save_workflow
from nodeflow.checkpoints.manifest import sha256_of, write_manifest
from tests.conftest import WORKFLOWS, build_once, run_cli

DIGITS = str(WORKFLOWS / "digits_cnn.json")


def test_history_log_and_run_files_follow_the_seeds(tmp_path: Path) -> None:
    result = run_cli("run", DIGITS, "--set", "Trainer.epochs=3", "--set",
                     "Trainer.checkpoint_dir=runs/{model}_{dataset}", "--set", "Trainer.lr=0.002", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "runs" / "cnn_digits"
    epoch2 = json.loads((folder / "history" / "epoch_2.json").read_text())
    assert set(epoch2) >= {"epoch", "step", "config", "metrics"}
    assert epoch2["epoch"] == 2 and epoch2["config"]["lr"] == 0.002
    assert set(epoch2["metrics"]["train"]) >= {"loss", "accuracy", "time"}
    # the per-model metrics schema's ViT keys
    assert set(epoch2["metrics"]["val"]) == {"loss", "accuracy", "top5_accuracy", "time"}
    assert len(epoch2["class_accuracies"]) == 10 and epoch2["learning_rate"] == 0.002
    final = torch.load(folder / "final_model.pt")
    assert epoch2["metrics"]["train"]["loss"] == final["epoch_losses"][1]
    log = (folder / "training_log.txt").read_text()
    assert re.search(r"Epoch \[3/3\], Loss: \d\.\d{4}", log) and "Final model saved to" in log
    run_as = load_workflow(folder / "workflow.json")
    assert run_as.node_by_name("Trainer").params["lr"] == 0.002  # the workflow as run, after --set
    assert json.loads((folder / "config.json").read_text())["model"]["type"] == "model.cnn"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(folder / "tensorboard"))
    board.Reload()
    assert [e.value for e in board.Scalars("train/loss")] == pytest.approx(final["epoch_losses"])
    assert [e.step for e in board.Scalars("val/accuracy")] == [1, 2, 3]


def test_timestamp_placeholder_gives_a_new_folder_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    result = run_cli("run", DIGITS, "--set", "Trainer.epochs=1", "--set", "Trainer.checkpoint_dir=exp/{timestamp}",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "exp").iterdir()
    assert re.fullmatch(r"\d{8}_\d{6}", run_dir.name) and (run_dir / "final_model.pt").is_file()
    bad = run_cli("run", DIGITS, "--set", "Trainer.checkpoint_dir=exp/{user}", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown placeholder" in bad.stderr


def test_resume_reports_what_changed_since_the_checkpoint(tmp_path: Path) -> None:
    run_cli("run", DIGITS, "--set", "Trainer.epochs=2", "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path)
    result = run_cli("run", DIGITS, "--set", "Trainer.epochs=3", "--set", "Trainer.checkpoint_dir=ck",
                     "--set", "Trainer.lr=0.01", "--resume", "auto", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "changed since that checkpoint: trainer.epochs: 2 -> 3" in result.stdout
    assert "changed since that checkpoint: trainer.lr: 0.001 -> 0.01" in result.stdout
    assert "Epoch [3/3]" in result.stdout and "Epoch [1/3]" not in result.stdout


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.fixture(scope="module")
def evil_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained once for the session; each test gets its own copy (one of them runs the code)."""
    return build_once(tmp_path_factory, "evil", make_evil)


def make_evil(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    run_cli("run", DIGITS, "--set", "Trainer.epochs=1", "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path)
    data = torch.load(tmp_path / "ck" / "final_model.pt")
    torch.save(data, good)
    data["extra"] = RunsCode()
    path = tmp_path / "evil.pt"
    torch.save(data, path)
    # a folder whose manifest vouches for it (an attacker can forge that too) and a workflow loading it
    (tmp_path / "forged").mkdir()
    shutil.copy(path, tmp_path / "forged" / "final_model.pt")
    entry = {"kind": "final", "epoch": 1, "step": 20, "file_size": path.stat().st_size,
             "checksum": sha256_of(path), "is_final": True}
    write_manifest(tmp_path / "forged", {"final_model.pt": entry})
    workflow = load_workflow(WORKFLOWS / "digits_cnn.json")
    for node_id in ("cnn", "trainer"):
        del workflow.nodes[node_id]
    workflow.nodes["load"] = Node("load", "model.load_checkpoint", "Load", {"path": "evil.pt"})
    workflow.links = [k for k in workflow.links if k.dst not in ("cnn", "trainer") and k.src != "trainer"]
    workflow.links.append(Link("load", "model", "evaluate", "model"))
    save_workflow(workflow, tmp_path / "infer.json")


@pytest.fixture
def evil(evil_folder: Path, tmp_path: Path) -> Path:
    shutil.copytree(evil_folder, tmp_path / "run")
    return tmp_path / "run" / "evil.pt"


@pytest.mark.parametrize("command", [
    ["ckpt", "show", "evil.pt"], ["ckpt", "compare", "good.pt", "evil.pt"],
    ["ckpt", "export", "evil.pt", "out.pt"], ["run", DIGITS, "--set", "Trainer.epochs=2", "--resume", "evil.pt"],
    ["ckpt", "plot", "forged"], ["run", "infer.json"],
    ["run", DIGITS, "--set", "Trainer.checkpoint_dir=forged", "--set", "Trainer.epochs=2", "--resume", "auto"],
])
def test_a_checkpoint_that_would_run_code_is_refused_everywhere(evil: Path, command: list[str]) -> None:
    result = run_cli(*command, cwd=evil.parent)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refused: the file contains pickled Python objects" in result.stderr
    assert not (evil.parent / "PWNED").exists()
    assert "Traceback" not in result.stderr


def test_trust_is_the_explicit_way_to_open_such_a_file(evil: Path) -> None:
    result = run_cli("ckpt", "show", "evil.pt", "--trust", cwd=evil.parent)
    assert result.returncode == 0
    assert (evil.parent / "PWNED").exists()  # exactly why it is refused without --trust
