"""Checkpoint files: atomic writes, safe loading, rebuilding the model."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
import torch

from nodeflow import restore_model
from nodeflow.core import CheckpointError
from nodeflow.checkpoints.peek import peek
from nodeflow.checkpoints.torch_files import atomic_save, load_checkpoint


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "best_model.pt"
    atomic_save({"model_state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)

    class Unsaveable:
        def __reduce__(self):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_save({"model_state_dict": {}, "epoch": 2, "bad": Unsaveable()}, path)
    assert torch.load(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["best_model.pt"]


def test_truncated_and_garbage_files_are_reported_by_name(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    atomic_save({"model_state_dict": {"w": torch.randn(100, 100)}, "epoch": 1}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    for path in (truncated, garbage, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"model_state_dict": {}, "payload": _RunsCode()}, evil)
    with pytest.raises(CheckpointError) as info:
        restore_model(evil)
    assert "refused" in str(info.value)
    assert not (tmp_path / "PWNED").exists()


def test_unknown_model_type_in_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    atomic_save({"model_state_dict": {}, "config": {"model": {"type": "model.transformer"}}}, path)
    with pytest.raises(CheckpointError, match="unknown model type 'model.transformer'"):
        restore_model(path)


def test_a_file_that_no_longer_matches_its_manifest_is_not_used(tmp_path: Path) -> None:
    from nodeflow.checkpoints.manifest import commit_entry, make_entry

    path = tmp_path / "best_model.pt"
    data = {"model_state_dict": {"w": torch.ones(4)}, "epoch": 1, "step": 3}
    atomic_save(data, path)
    commit_entry(tmp_path, path.name, make_entry(path, data, "best", {}))
    assert load_checkpoint(path)["epoch"] == 1
    raw = bytearray(path.read_bytes())
    raw[raw.find(b"\x00\x00\x80\x3f")] ^= 0x40  # one float 1.0 in the tensor data
    path.write_bytes(bytes(raw))
    assert torch.load(path)["model_state_dict"]["w"].sum() != 4  # torch alone loads garbage
    with pytest.raises(CheckpointError, match="not used: SHA-256 does not match"):
        restore_model(path)


def test_the_checksum_hashed_while_writing_is_the_files_sha256(tmp_path: Path) -> None:
    """Large tensors are hashed on a helper thread while small records are hashed inline; the digest
    must still be the file's own, also when a large file is replaced (its blocks freed on a thread)."""
    import hashlib

    state = {"model_state_dict": {"big": torch.randn(18_000_000), "small": torch.arange(3)}, "epoch": 1}
    for _ in range(2):  # 72 MB: disk writeback starts mid-save; the second save replaces the first
        state["model_state_dict"]["big"].add_(1)
        digest = atomic_save(state, tmp_path / "big.pt")
        assert digest == hashlib.sha256((tmp_path / "big.pt").read_bytes()).hexdigest()
    assert torch.equal(torch.load(tmp_path / "big.pt")["model_state_dict"]["big"], state["model_state_dict"]["big"])
    assert [path.name for path in tmp_path.iterdir()] == ["big.pt"]  # no temp file left behind
    # saved without zip CRC-32s (the SHA-256 stands in): the Library still reads a copy away from its manifest
    assert peek(tmp_path / "big.pt").value["epoch"] == 1
    # and the user's own torch.save keeps its CRCs
    torch.save(state, tmp_path / "theirs.pt")
    assert zipfile.ZipFile(tmp_path / "theirs.pt").testzip() is None
