"""The verified save's fast path: the SHA-256 finished during the fsync, disk reserved up front.

A checkpoint must still be byte for byte what torch.save writes, its manifest checksum the file's
own SHA-256, and a failed write must leave nothing behind (no temp file, no thread still reading
the caller's memory)."""
from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import numpy
import pytest
import torch

from nodeflow.checkpoints import CheckpointConfig, CheckpointManager
from nodeflow.checkpoints.manifest import read_entries
from nodeflow.checkpoints.torch_files import atomic_save, without_zip_crc
from nodeflow.core.files import atomic_write


def torch_bytes(payload: dict) -> bytes:
    buffer = io.BytesIO()
    with without_zip_crc():
        torch.save(payload, buffer)
    return buffer.getvalue()


def hashing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("nodeflow-hash")]


def test_a_large_save_is_exactly_torch_saves_bytes_and_its_checksum_their_sha256(tmp_path: Path) -> None:
    """18 MB of tensors (disk reserved from an estimate; their hash finished after the fsync) with
    small tensors after them (hashed while the helper is still behind), a view of a larger storage
    (torch writes all of it), a tensor saved twice, and a 2 MB list the estimate leaves out."""
    big = torch.randn(4_500_000)
    shared = torch.arange(1000.0)
    payload = {"model_state_dict": {"big": big, "small": torch.ones(3), "view": torch.randn(300_000)[::3],
                                    "a": shared, "b": shared},
               "history": {"loss": [float(i) for i in range(250_000)]}, "epoch": 2}
    path = tmp_path / "big.pt"
    for history in ({}, payload["history"]):  # the estimate over, then under the file's size; the second replaces
        big.add_(1)
        payload["history"] = history
        digest = atomic_save(payload, path)
        expected = torch_bytes(payload)
        on_disk = path.read_bytes()
        assert len(on_disk) == len(expected) and on_disk == expected  # nothing reserved is left at the end
        assert digest == hashlib.sha256(on_disk).hexdigest()
        assert not hashing_threads()  # the hash was finished before the save returned
    loaded = torch.load(path)  # plain torch, weights_only by default
    assert torch.equal(loaded["model_state_dict"]["big"], big) and loaded["history"]["loss"][-1] == 249_999.0
    assert [p.name for p in tmp_path.iterdir()] == ["big.pt"]


def test_save_checkpoint_records_the_files_own_sha256_and_plain_torch_loads_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(2048, 2560)  # 21 MB of weights
    manager = CheckpointManager(CheckpointConfig(checkpoint_dir=tmp_path / "ck", backup_checkpoints=False))
    checkpoint_id = manager.save_checkpoint(model, epoch=1, step=10, metrics={"val_loss": 0.5})
    assert checkpoint_id is not None
    path = manager.path_of(checkpoint_id)
    entry = read_entries(tmp_path / "ck")[path.name]
    assert entry["checksum"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["file_size"] == path.stat().st_size
    assert manager.validate_checkpoint(checkpoint_id)
    assert torch.equal(torch.load(path)["model_state_dict"]["weight"], model.weight.detach())


def test_a_write_that_fails_after_lasting_bytes_leaves_nothing_behind(tmp_path: Path) -> None:
    """The helper may still be hashing memory the caller keeps only until atomic_write returns:
    a failure must wait for it too, and keep the old file and no temp file."""
    block = numpy.random.default_rng(0).integers(0, 255, 32 << 20, dtype=numpy.uint8)
    lasting = {block.__array_interface__["data"][0]: block.nbytes}
    path = tmp_path / "kept.bin"
    path.write_bytes(b"old")

    def write(handle) -> None:
        handle.write(memoryview(block))  # hashed later, on the helper
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, write, digest=True, lasting=lasting, size=block.nbytes)
    assert not hashing_threads()
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.bin"]
