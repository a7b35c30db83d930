"""File-system faults during a run: a clear error or documented recovery, earlier checkpoints intact."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nodeflow.checkpoints.manifest import read_entries, verify_file
from tests.conftest import ROOT, WORKFLOWS, bare_env, events, start_cli

RUN = [sys.executable, str(ROOT / "main.py"), "run", str(WORKFLOWS / "digits_cnn.json"), "--events", "jsonl",
       "--set", "Trainer.save_every_n_epochs=1", "--set", "Trainer.batch_size=8", "--set", "Trainer.checkpoint_dir=ck"]


def test_checkpoint_dir_removed_during_a_run_is_recreated(tmp_path: Path) -> None:
    proc = start_cli(*RUN[2:], "--set", "Trainer.epochs=4", cwd=tmp_path, env=bare_env())
    for line in proc.stdout:  # epoch 1's checkpoint is on disk: remove the folder under the running run
        if '"checkpoint_saved"' in line and '"epoch": 1,' in line:
            break
    while (tmp_path / "ck").exists():  # the run may be writing into it meanwhile
        shutil.rmtree(tmp_path / "ck", ignore_errors=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (tmp_path / "ck" / "final_model.pt").is_file()
    for name, entry in read_entries(tmp_path / "ck").items():
        assert verify_file(tmp_path / "ck" / name, entry) is None


def test_checkpoint_dir_made_read_only_during_a_run_fails_cleanly(tmp_path: Path) -> None:
    """ck/ turns read-only between saves, in epoch 3's training (tests/fs_faults.py answers every
    write there with EROFS from then on, as a read-only remount would; no privileges needed)."""
    (tmp_path / "ck").mkdir()
    trigger = tmp_path / "now_read_only"
    proc = subprocess.Popen([sys.executable, "-m", "tests.fs_faults", "ck", str(trigger), *RUN[1:],
                             "--set", "Trainer.epochs=30"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=bare_env())
    lines, saved = [], False
    for line in proc.stdout:  # epoch 2's checkpoints are saved and epoch 3 trains: read-only from now on
        lines.append(line)
        saved = saved or ('"checkpoint_saved"' in line and '"kind": "periodic"' in line and '"epoch": 2,' in line)
        if saved and '"batch_progress"' in line and json.loads(line)["epoch"] == 3:
            trigger.touch()
            break
    out, err = proc.communicate(timeout=300)
    assert trigger.exists(), "the run ended before epoch 2's checkpoint"
    assert proc.returncode == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Read-only file system" in err and "earlier checkpoints are intact" in err
    seen = events("".join(lines) + out)
    assert seen[-1]["event"] == "run_end" and seen[-1]["status"] == "failed"
    assert any(e["event"] == "error" and e["node"] == "Trainer" for e in seen)
    for name, entry in read_entries(tmp_path / "ck").items():
        assert verify_file(tmp_path / "ck" / name, entry) is None
        torch.load(tmp_path / "ck" / name)


def test_a_checkpoint_the_os_refuses_mid_tensor_fails_in_one_line(tmp_path: Path) -> None:
    """A write that fails inside torch.save (here the file-size limit, as a disk filling up mid-save
    would) names the file and the OS's reason, not torch's "unexpected pos", and leaves no temp file."""
    resource = pytest.importorskip("resource")

    def limit_file_size() -> None:  # 2 MB: the run's small files fit, a 12 MB checkpoint does not
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, resource.RLIM_INFINITY))

    done = subprocess.run([*RUN, "--set", "Trainer.epochs=2", "--set", "CNN.hidden=2000"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size,
                          env=bare_env())
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "could not write checkpoint" in done.stderr and "checkpoint_epoch_1.pt: File too large" in done.stderr
    assert "Traceback" not in done.stderr and "unexpected pos" not in done.stderr
    assert not list((tmp_path / "ck").glob(".*.tmp")) and not list((tmp_path / "ck").glob("*.pt"))
