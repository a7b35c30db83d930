"""One workflow under torchrun: 2 gloo processes on CPU, real child processes, real files."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nodeflow import restore_model
from nodeflow.checkpoints.manifest import read_entries, verify_file
from tests.conftest import ROOT, WORKFLOWS, build_once, run_cli, start_cli

WINE = ["run", str(WORKFLOWS / "wine_mlp.json"), "--set", "Trainer.epochs=6", "--set", "Trainer.save_every_n_epochs=2"]
DIGITS = ["run", str(WORKFLOWS / "digits_cnn.json"), "--set", "Trainer.epochs=4", "--set",
          "Trainer.save_every_n_epochs=1", "--set", "Trainer.batch_size=32", "--set", "CNN.dropout=0.3"]


def train_losses(folder: Path) -> list[float]:
    files = sorted((folder / "history").glob("epoch_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    return [json.loads(p.read_text())["metrics"]["train"]["loss"] for p in files]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "tensorboard" not in p.parts}


@pytest.fixture(scope="module")
def wine_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    def build(folder: Path) -> None:
        (folder / "single").mkdir()
        (folder / "ddp").mkdir()
        assert run_cli(*WINE, cwd=folder / "single").returncode == 0
        result = run_cli(*WINE, "--nproc", "2", cwd=folder / "ddp")
        assert result.returncode == 0, result.stderr
        assert "error" not in result.stderr.lower() and "Traceback" not in result.stderr

    folder = build_once(tmp_path_factory, "ddp_wine_runs", build)
    return folder / "single", folder / "ddp"


def test_two_processes_train_like_one_with_the_same_global_batch(wine_runs: tuple[Path, Path]) -> None:
    single, ddp = (root / "checkpoints" / "wine_mlp" / "run_1" for root in wine_runs)
    a, b = train_losses(single), train_losses(ddp)
    assert len(a) == len(b) == 6  # 106 samples in batches of 16: the uneven last batch is split too
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5


def test_only_rank_0_writes_one_set_of_files_that_load_in_one_process(wine_runs: tuple[Path, Path]) -> None:
    single, ddp = wine_runs
    assert tree(ddp) == tree(single)  # the same files, once: no second run folder, no duplicates
    folder = ddp / "checkpoints" / "wine_mlp" / "run_1"
    for name, entry in read_entries(folder).items():
        assert verify_file(folder / name, entry) is None, name
    weights = torch.load(folder / "final_model.pt")["model_state_dict"]
    assert not any(key.startswith("module.") for key in weights)
    model, checkpoint = restore_model(folder / "final_model.pt")
    assert checkpoint["world_size"] == 2 and sum(p.numel() for p in model.parameters()) > 0


def _worker(launcher: int, rank: int) -> int | None:
    """The pid of the torchrun worker with this RANK under the launcher process."""
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return int(child)
    return None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the worker through /proc")
def test_kill_9_of_one_rank_fails_the_job_cleanly_and_resume_auto_completes_it_exactly(
        tmp_path: Path) -> None:
    reference = run_cli(*DIGITS, "--nproc", "2", "--set", "Trainer.checkpoint_dir=ref", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = start_cli(*DIGITS, "--nproc", "2", "--events", "jsonl", "--set", "Trainer.checkpoint_dir=run",
                     cwd=tmp_path, env=env)
    saved = False
    for line in proc.stdout:  # epoch 1 is saved and rank 0 trains epoch 2: kill rank 1 there
        saved = saved or '"checkpoint_saved"' in line
        if saved and '"batch_progress"' in line and json.loads(line)["epoch"] == 2:
            break
    else:
        pytest.fail(f"the run ended before epoch 2: {proc.communicate()[1]}")
    victim = _worker(proc.pid, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    # torchrun's agent stops the surviving rank with SIGTERM, which it may announce before the error line
    lines = [line for line in err.splitlines() if line.strip() and line != "Stopping after the current batch..."]
    assert lines == ["error: rank 1 was killed by SIGKILL; every rank stopped. `--resume auto` continues from the "
                     "last checkpoint"], err
    assert not (tmp_path / "run" / "final_model.pt").exists()
    resumed = run_cli(*DIGITS, "--nproc", "2", "--set", "Trainer.checkpoint_dir=run", "--resume", "auto",
                      cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from" in resumed.stdout
    x, y = torch.load(tmp_path / "ref" / "final_model.pt"), torch.load(tmp_path / "run" / "final_model.pt")
    assert x["epoch_losses"] == y["epoch_losses"]
    for name, tensor in x["model_state_dict"].items():
        assert torch.equal(tensor, y["model_state_dict"][name]), name


def test_stop_reaches_every_rank_and_rank_0_writes_the_interrupt_checkpoint(tmp_path: Path) -> None:
    """The editor's Stop (SIGTERM to `run --nproc`): all ranks stop at the same step, one set of lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = start_cli(*DIGITS, "--set", "Trainer.epochs=200", "--nproc", "2", "--events", "jsonl",
                     "--set", "Trainer.checkpoint_dir=run", cwd=tmp_path, env=env)
    for line in proc.stdout:
        if '"checkpoint_saved"' in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert [line for line in err.splitlines() if line.strip()] == ["Stopping after the current batch...",
                                                                    "Interrupted."], err
    saved = torch.load(tmp_path / "run" / "checkpoint_interrupted.pt")
    assert saved["world_size"] == 2 and 1 <= saved["epoch"] < 200


def test_two_nodes_rendezvous_on_localhost(tmp_path: Path, wine_runs: tuple[Path, Path]) -> None:
    """Multi-node as documented: one torchrun per machine, here both on 127.0.0.1."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    port = 29400 + os.getpid() % 500
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node",
                               "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                               "--rdzv-id", "nodeflow-test", "-m", "nodeflow", *WINE], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for node in nodes:
        node.communicate(timeout=180)
        assert node.returncode == 0
    assert train_losses(tmp_path / "checkpoints" / "wine_mlp" / "run_1") == \
        train_losses(wine_runs[1] / "checkpoints" / "wine_mlp" / "run_1")


def test_a_bad_sample_that_one_rank_reads_stops_every_rank_with_that_ranks_one_line(tmp_path: Path) -> None:
    shutil.copytree(WORKFLOWS / "data" / "shapes", tmp_path / "data" / "shapes")
    shutil.copy(WORKFLOWS / "shapes_augment.json", tmp_path)
    (tmp_path / "data" / "shapes" / "square" / "square_003.png").write_bytes(b"not a png")
    result = run_cli("run", str(tmp_path / "shapes_augment.json"), "--nproc", "2", "--set", "Trainer.epochs=1",
                     "--set", "Trainer.num_workers=0", cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "square_003.png" in lines[0] and lines[0].startswith("error: [rank "), result.stderr


@pytest.mark.parametrize("args, field", [
    (["--nproc", "0"], "field '--nproc': must be 1 or more, got 0"),
    (["--nproc", "2", "--device", "cuda"], "field '--device'"),
    (["--set", "Trainer.amp=fp16", "--set", "Trainer.device=cpu"], "field 'amp': fp16 needs a CUDA device"),
])
def test_bad_scale_settings_are_one_line_and_exit_2_before_anything_runs(tmp_path: Path, args: list[str],
                                                                         field: str) -> None:
    result = run_cli(*WINE, *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0], result.stderr
    assert not list(tmp_path.iterdir())


def test_a_mid_epoch_checkpoint_is_refused_under_another_world_size(tmp_path: Path) -> None:
    first = run_cli(*WINE, "--set", "Trainer.save_every_n_iters=5", "--set", "Trainer.epochs=1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    mid = tmp_path / "checkpoints" / "wine_mlp" / "run_1" / "checkpoint_iter_5.pt"
    before = mid.read_bytes()
    result = run_cli(*WINE, "--nproc", "2", "--set", f"Trainer.resume={mid}", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "saved mid-epoch by 1 process(es) and this run has 2" in lines[0], result.stderr
    assert "epoch-boundary checkpoint" in lines[0] and mid.read_bytes() == before
    boundary = mid.with_name("final_model.pt")  # a one-process epoch boundary resumes under DDP
    resumed = run_cli(*WINE, "--nproc", "2", "--set", "Trainer.epochs=3", "--set", f"Trainer.resume={boundary}",
                      cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming from {boundary} (epoch 1" in resumed.stdout and "Epoch [3/3]" in resumed.stdout
