"""File-system faults during a run: a clear error or documented recovery, earlier checkpoints intact."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nodeflow.training.manifest import read_manifest, verify_file
from tests.conftest import ROOT, WORKFLOWS, events

RUN = [sys.executable, str(ROOT / "main.py"), "run", str(WORKFLOWS / "digits_cnn.json"), "--events", "jsonl",
       "--set", "Trainer.save_every_n_epochs=1", "--set", "Trainer.batch_size=8", "--set", "Trainer.checkpoint_dir=ck"]


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_checkpoint_dir_removed_during_a_run_is_recreated(tmp_path: Path) -> None:
    proc = subprocess.Popen([*RUN, "--set", "Trainer.epochs=4"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    wait_for(tmp_path / "ck" / "checkpoint_epoch_1.pt")
    while (tmp_path / "ck").exists():  # the run may be writing into it meanwhile
        shutil.rmtree(tmp_path / "ck", ignore_errors=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (tmp_path / "ck" / "final_model.pt").is_file()
    for name, entry in read_manifest(tmp_path / "ck").items():
        assert verify_file(tmp_path / "ck" / name, entry) is None


def test_checkpoint_dir_made_read_only_during_a_run_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "ck").mkdir()
    # Remount between saves, in epoch 3's training: a remount while a file is open for writing fails ("busy").
    saved = """grep -q '"checkpoint_saved".*"kind": "periodic".*"epoch": 2,' out.jsonl"""
    script = (f"mount --bind ck ck || exit 99; ({' '.join(RUN)} --set Trainer.epochs=30 > out.jsonl 2> err.txt; "
              f"echo $? > rc.txt) & until {saved}; do sleep 0.02; done; sleep 0.3; "
              f"for try in 1 2 3 4 5; do mount -o remount,ro,bind ck && break; sleep 0.1; "
              f"[ $try = 5 ] && touch no_remount; done; wait")
    try:
        done = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=tmp_path, timeout=300,
                              capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    except FileNotFoundError:
        pytest.skip("unshare is not available")
    if done.returncode == 99 or not (tmp_path / "rc.txt").exists():
        pytest.skip(f"cannot bind-mount in a user namespace here: {done.stderr.strip()[:200]}")
    if (tmp_path / "no_remount").exists():
        pytest.skip(f"cannot remount read-only in a user namespace here: {done.stderr.strip()[:200]}")
    assert (tmp_path / "rc.txt").read_text().strip() == "1"
    err = (tmp_path / "err.txt").read_text()
    assert len(err.strip().splitlines()) == 1
    assert "Read-only file system" in err and "earlier checkpoints are intact" in err
    seen = events((tmp_path / "out.jsonl").read_text())
    assert seen[-1]["event"] == "run_end" and seen[-1]["status"] == "failed"
    assert any(e["event"] == "error" and e["node"] == "Trainer" for e in seen)
    for name, entry in read_manifest(tmp_path / "ck").items():
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
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "could not write checkpoint" in done.stderr and "checkpoint_epoch_1.pt: File too large" in done.stderr
    assert "Traceback" not in done.stderr and "unexpected pos" not in done.stderr
    assert not list((tmp_path / "ck").glob(".*.tmp")) and not list((tmp_path / "ck").glob("*.pt"))
