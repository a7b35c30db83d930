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
from tests.conftest import ROOT, WORKFLOWS, build_once, run_cli

ARGS = ["run", str(WORKFLOWS / "digits_cnn.json"), "--set", "Trainer.epochs=3", "--set",
        "Trainer.save_every_n_epochs=1", "--set", "Trainer.batch_size=8", "--set", "CNN.dropout=0.3"]


def start(folder: str, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *ARGS, "--set",
                             f"Trainer.checkpoint_dir={folder}", "--events", "jsonl", *extra],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def kill_after(proc: subprocess.Popen[str], marker: str, count: int, delay: float = 0.0, after: str = "") -> None:
    """kill -9 once `marker` was printed `count` times (counting only after the first `after`)."""
    seen, armed = 0, not after
    for line in proc.stdout:
        seen += armed and marker in line
        armed = armed or after in line
        if seen >= count:
            time.sleep(delay)
            break
    proc.kill()
    proc.wait()


def interrupt_inside_epoch_2(proc: subprocess.Popen[str]) -> None:
    """Ctrl-C inside an epoch from the second on, once one of its batches trained (between epochs the run
    would stop with no batch more, and nothing mid-epoch would be resumed)."""
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "batch_progress" and event["epoch"] >= 2 and event["batch"] < event["batches"]:
            proc.send_signal(signal.SIGINT)
            break


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


@pytest.mark.parametrize("marker, count, delay, after", [
    ('"batch_progress"', 3, 0.0, '"checkpoint_saved"'),  # inside epoch 2, after epoch 1's checkpoints were saved
    ('"epoch_end"', 2, 0.0, ""),  # right as epoch 2's checkpoints are being written
    ('"checkpoint_saved"', 3, 0.01, ""),  # between or inside saves of epoch 2
], ids=["batch_progress", "epoch_end", "checkpoint_saved"])
def test_kill_9_then_resume_auto_is_bit_identical(reference: Path, tmp_path: Path, marker: str,
                                                  count: int, delay: float, after: str) -> None:
    kill_after(start("run", tmp_path), marker, count, delay, after)
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


def test_kill_9_inside_a_write_leaves_the_previous_file(tmp_path: Path) -> None:
    code = (
        "import sys, torch; from pathlib import Path; from nodeflow.checkpoints.torch_files import atomic_save\n"
        "path = Path(sys.argv[1]); big = torch.randn(64, 1024, 1024)\n"
        "atomic_save({'model_state_dict': {}, 'epoch': 1}, path); print('first', flush=True)\n"
        "while True: atomic_save({'model_state_dict': {'w': big}, 'epoch': 2}, path)\n"
    )
    target = tmp_path / "best_model.pt"
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "first"
    deadline = time.time() + 30
    while not list(tmp_path.glob(".*.tmp")) and time.time() < deadline:
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    assert torch.load(target)["epoch"] in (1, 2)  # old or new, never partial
