"""`nodeflow ckpt` on real training output: verify catches corruption, auto resume skips it,
retention keeps best and final, a disk that fills up mid-run leaves earlier checkpoints valid."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nodeflow.checkpoints.manifest import read_entries, verify_file
from tests.conftest import WORKFLOWS, build_once, events, run_cli, start_cli

DIGITS = str(WORKFLOWS / "digits_cnn.json")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def build(cwd: Path) -> None:
        result = run_cli("run", DIGITS, "--set", "Trainer.epochs=4", "--set", "Trainer.save_every_n_epochs=1",
                         "--set", "Trainer.checkpoint_dir=ck", cwd=cwd)
        assert result.returncode == 0, result.stderr

    return build_once(tmp_path_factory, "ckpt_commands", build) / "ck"


def copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ck"
    shutil.copytree(folder, target)
    return target


def test_list_and_show_describe_every_file(trained: Path, tmp_path: Path) -> None:
    out = run_cli("ckpt", "list", str(trained), cwd=tmp_path).stdout
    for name in ("checkpoint_epoch_1.pt", "checkpoint_epoch_4.pt", "best_model.pt", "final_model.pt"):
        assert name in out
    assert out.count("✓") >= 8 and "✗" not in out
    show = run_cli("ckpt", "show", str(trained / "final_model.pt"), cwd=tmp_path).stdout
    assert "epoch:    4" in show and "model:    model.cnn" in show and "✓ verified" in show


def test_a_flipped_byte_and_a_truncated_file_are_caught_and_skipped(trained: Path, tmp_path: Path) -> None:
    folder = copy(trained, tmp_path)
    final = folder / "final_model.pt"
    data = bytearray(final.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit inside tensor data: torch.load would not notice
    final.write_bytes(bytes(data))
    last = folder / "checkpoint_epoch_4.pt"
    last.write_bytes(last.read_bytes()[:1000])
    result = run_cli("ckpt", "verify", str(folder), cwd=tmp_path)
    assert result.returncode == 1
    assert "✗ final_model.pt: SHA-256 does not match the manifest (corrupted)" in result.stdout
    assert "✗ checkpoint_epoch_4.pt: size 1000 bytes" in result.stdout
    assert "✗ best_model.pt" not in result.stdout
    resumed = run_cli("run", DIGITS, "--set", "Trainer.epochs=4", "--set", "Trainer.save_every_n_epochs=1",
                      "--set", "Trainer.checkpoint_dir=ck", "--resume", "auto", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "skipping ck/final_model.pt: SHA-256 does not match" in resumed.stdout
    resumed_from = re.search(r"↻ Resuming from ck/(\S+) \(epoch (\d+)", resumed.stdout)
    assert resumed_from and resumed_from.group(1) not in ("final_model.pt", "checkpoint_epoch_4.pt")
    assert resumed_from.group(1) == "best_model.pt" or resumed_from.group(2) == "3"
    assert run_cli("ckpt", "verify", str(folder), cwd=tmp_path).returncode == 0
    assert (folder / "checkpoint_epoch_4.pt.corrupt").stat().st_size == 1000  # kept for inspection


def test_compare_export_and_plot(trained: Path, tmp_path: Path) -> None:
    out = run_cli("ckpt", "compare", str(trained / "checkpoint_epoch_4.pt"), str(trained / "final_model.pt"),
                  str(trained / "checkpoint_epoch_1.pt"), cwd=tmp_path).stdout
    blocks = out.split("\n\n")
    assert "bitwise equal: yes" in blocks[1] and "bitwise equal: no" in blocks[2]
    result = run_cli("ckpt", "export", str(trained / "best_model.pt"), "out/best.safetensors", "--format",
                     "safetensors", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    weights = load_file(tmp_path / "out" / "best.safetensors")
    best = torch.load(trained / "best_model.pt")
    assert all(torch.equal(weights[k], v) for k, v in best["model_state_dict"].items())
    entry = json.loads((tmp_path / "out" / "best.safetensors.json").read_text())
    assert entry["checksum"] == read_entries(trained)["best_model.pt"]["checksum"]
    assert run_cli("ckpt", "plot", str(trained), "-o", "curves.png", cwd=tmp_path).returncode == 0
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_retention_keeps_the_newest_periodic_files_and_never_best_or_final(tmp_path: Path) -> None:
    result = run_cli("run", DIGITS, "--set", "Trainer.epochs=6", "--set", "Trainer.save_every_n_epochs=1",
                     "--set", "Trainer.max_checkpoints=2", "--set", "Trainer.checkpoint_dir=ck", "--set",
                     "Trainer.monitor=train_loss", "--set", "Trainer.lr=0.05", "--events", "jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "ck").glob("*.pt"))
    assert names == ["best_model.pt", "checkpoint_epoch_5.pt", "checkpoint_epoch_6.pt", "final_model.pt"]
    assert sorted(read_entries(tmp_path / "ck")) == names
    deleted = [e for e in events(result.stdout) if e["event"] == "checkpoint_deleted"]
    assert len(deleted) == 4
    assert run_cli("ckpt", "prune", "ck", "--keep", "0", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in (tmp_path / "ck").glob("*.pt")) == ["best_model.pt", "final_model.pt"]


def test_a_disk_that_fills_up_mid_run_stops_it_and_leaves_earlier_checkpoints_valid(tmp_path: Path) -> None:
    """From epoch 2's first save on, the OS refuses every write past 64 KiB, as a filling disk
    refuses them (a file-size limit put on the running process: no privileges or mounts needed;
    a checkpoint here is about 220 KB, so the next save fails inside torch.save)."""
    resource = pytest.importorskip("resource")  # POSIX; CI and every Linux and macOS machine have it
    proc = start_cli("run", DIGITS, "--set", "Trainer.epochs=8", "--set", "Trainer.save_every_n_epochs=1",
                     "--set", "Trainer.checkpoint_dir=ck", "--events", "jsonl", cwd=tmp_path)
    for line in proc.stdout:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "checkpoint_saved" and event.get("epoch") == 2:
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (64 << 10, resource.RLIM_INFINITY))
            break
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "File too large; earlier checkpoints are intact" in err
    assert '"status": "failed"' in out.splitlines()[-1]
    valid, invalid, temp = report(tmp_path / "ck")
    assert valid >= 2 and invalid == 0 and temp == 0  # epoch 1's files at least, each verified and loadable


def report(path: Path) -> tuple[int, int, int]:
    """(files that verify against the manifest and load, entries that do not, leftover temp files)."""
    entries = read_entries(path)
    valid = sum(verify_file(path / n, e) is None and torch.load(path / n) is not None for n, e in entries.items())
    return valid, len(entries) - valid, len(list(path.glob(".*.tmp")))
