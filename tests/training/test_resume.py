"""Exact resume: after Ctrl-C or kill -9 at any moment, `--resume auto` ends bit-identical."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nodeflow.checkpoints.manifest import read_entries, verify_file
from tests.conftest import ROOT, WORKFLOWS, build_once, run_cli, start_cli
from tests.warm_child import Started

# batch 2: 629 batches an epoch (about 0.7 s on one quiet core), so the throttled batch_progress events
# (every 0.25 s) always include some inside an epoch for the Ctrl-C tests to act on
ARGS = ["run", str(WORKFLOWS / "digits_cnn.json"), "--set", "Trainer.epochs=3", "--set",
        "Trainer.save_every_n_epochs=1", "--set", "Trainer.batch_size=2", "--set", "CNN.dropout=0.3"]


def start(folder: str, cwd: Path, *extra: str) -> Started:
    return start_cli(*ARGS, "--set", f"Trainer.checkpoint_dir={folder}", "--events", "jsonl", *extra, cwd=cwd)


def kill_after(proc: Started, marker: str, count: int, after: str = "") -> None:
    """kill -9 once `marker` was printed `count` times (counting only after the first `after`)."""
    seen, armed = 0, not after
    for line in proc.stdout:
        seen += armed and marker in line
        armed = armed or after in line
        if seen >= count:
            break
    proc.kill()
    proc.wait()


def interrupt_inside_epoch_2(proc: Started) -> None:
    """Ctrl-C inside an epoch from the second on, once one of its batches trained (between epochs the run
    would stop with no batch more, and nothing mid-epoch would be resumed)."""
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "batch_progress" and event["epoch"] >= 2 and event["batch"] < event["batches"]:
            proc.send_signal(signal.SIGINT)
            return
    pytest.fail("the run ended without a batch_progress event inside epoch 2 or 3")


def assert_same_final(a: Path, b: Path) -> None:
    x, y = torch.load(a / "final_model.pt"), torch.load(b / "final_model.pt")
    assert x["epoch_losses"] == y["epoch_losses"]
    for name, tensor in x["model_state_dict"].items():
        assert torch.equal(tensor, y["model_state_dict"][name]), name
    for name, entry in read_entries(b).items():
        assert verify_file(b / name, entry) is None, name


def uninterrupted(factory: pytest.TempPathFactory, name: str, *args: str) -> Path:
    """The checkpoint folder of a run that was never stopped: what resumed runs must equal."""
    def build(cwd: Path) -> None:
        result = run_cli(*args, "--set", "Trainer.checkpoint_dir=ref", cwd=cwd)
        assert result.returncode == 0, result.stderr

    return build_once(factory, name, build) / "ref"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return uninterrupted(tmp_path_factory, "reference", *ARGS)


def test_ctrl_c_mid_epoch_then_resume_is_bit_identical(reference: Path, tmp_path: Path) -> None:
    proc = start("run", tmp_path)
    interrupt_inside_epoch_2(proc)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    interrupted = torch.load(tmp_path / "run" / "checkpoint_interrupted.pt")
    assert interrupted["epoch"] < 3 and interrupted["batch_in_epoch"] > 0  # stopped inside an epoch
    result = run_cli(*ARGS, "--set", "Trainer.checkpoint_dir=run", "--resume", "auto", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "↻ Resuming from run/checkpoint_interrupted.pt" in result.stdout
    assert_same_final(reference, tmp_path / "run")


def test_ctrl_c_in_the_experiments_layout_resumes_from_latest_bit_identically(reference: Path,
                                                                             tmp_path: Path) -> None:
    layout = ["--set", "Trainer.layout=experiments", "--set", "Trainer.experiment_name=e"]
    proc = start("experiments", tmp_path, *layout)
    interrupt_inside_epoch_2(proc)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    folder = tmp_path / "experiments" / "e" / "checkpoints"
    assert torch.load(folder / "latest.pt")["batch_in_epoch"] > 0  # the interrupt went to latest.pt
    result = run_cli(*ARGS, "--set", "Trainer.checkpoint_dir=experiments", *layout, "--resume", "auto", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "↻ Resuming from experiments/e/checkpoints/latest.pt" in result.stdout
    final, resumed = torch.load(reference / "final_model.pt"), torch.load(folder / "latest.pt")
    assert resumed["epoch"] == 3 and resumed["epoch_losses"] == final["epoch_losses"]
    for name, tensor in final["model_state_dict"].items():
        assert torch.equal(tensor, resumed["model_state_dict"][name]), name


@pytest.mark.parametrize("marker, count, after", [
    ('"batch_progress"', 3, '"checkpoint_saved"'),  # inside epoch 2, after epoch 1's checkpoints were saved
    ('"epoch_end"', 2, ""),  # right as epoch 2's checkpoints are being written
    ('"checkpoint_saved"', 3, ""),  # between the saves of epoch 2
], ids=["batch_progress", "epoch_end", "checkpoint_saved"])
def test_kill_9_then_resume_auto_is_bit_identical(reference: Path, tmp_path: Path, marker: str,
                                                  count: int, after: str) -> None:
    kill_after(start("run", tmp_path), marker, count, after)
    folder = tmp_path / "run"
    for path in folder.glob("*.pt"):  # whatever is under a final name must open
        torch.load(path)
    assert (folder / "checkpoint_epoch_1.pt").is_file()  # there is something to resume from
    result = run_cli(*ARGS, "--set", "Trainer.checkpoint_dir=run", "--resume", "auto", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    resumed = re.search(r"↻ Resuming from run/\S+ \(epoch (\d+)", result.stdout)
    assert resumed and int(resumed.group(1)) >= 1, result.stdout  # it continued, it did not start over
    assert_same_final(reference, folder)
    assert not list(folder.glob(".*.tmp"))


MID_WRITE = """
import sys, time, torch
from pathlib import Path
from nodeflow.checkpoints.torch_files import atomic_save

class MidWrite:
    \"\"\"Pickled by torch.save after the temp file was opened: says so, then never returns.\"\"\"
    def __reduce__(self):
        Path(sys.argv[2]).touch()
        time.sleep(3600)

path = Path(sys.argv[1])
atomic_save({"model_state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)
atomic_save({"model_state_dict": {"w": torch.zeros(3)}, "epoch": 2, "mid_write": MidWrite()}, path)
"""


def test_kill_9_inside_a_write_leaves_the_previous_file(tmp_path: Path) -> None:
    """The second save is killed once it is provably inside torch.save (its payload said so); the first
    file stays whole under its name and the unfinished one is only a temp file of ours."""
    target, inside = tmp_path / "ck" / "best_model.pt", tmp_path / "inside_the_write"
    target.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", MID_WRITE, str(target), str(inside)], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while not inside.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the second save never started"
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    left = [p.name for p in target.parent.iterdir() if p != target]
    assert len(left) == 1 and re.fullmatch(r"\.best_model\.pt\.\w+\.tmp", left[0]), left  # killed mid-write
    saved = torch.load(target)
    assert saved["epoch"] == 1 and torch.equal(saved["model_state_dict"]["w"], torch.ones(3))
