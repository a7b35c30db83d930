"""`run --reuse` with a Pretrained base: an unchanged base is reused; a base whose weights changed
under the same folder name (same size, one byte different) trains again, and the console says which
file changed."""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.pretrained.runs import SHIPPED
from tests.pretrained.workflows import pretrained_workflow
from tests.reliability.test_fuzz_workflows import cli

ONE_EPOCH = ["--set", "Trainer.epochs=1", "--set", "Trainer.batch_size=16", "--set", "Trainer.checkpoint_dir=ck/{run}"]


def test_a_base_whose_weights_changed_is_trained_again(tmp_path: Path) -> None:
    base = tmp_path / "bert"
    shutil.copytree(SHIPPED / "tiny_bert", base)  # changed below: never the shipped copy
    path = pretrained_workflow(tmp_path, "bert", "sequence-classification", freeze="all-but-head")
    code, out, err = cli("run", str(path), "--reuse", *ONE_EPOCH, cwd=tmp_path)
    assert code == 0, err
    code, out, err = cli("run", str(path), "--reuse", *ONE_EPOCH, cwd=tmp_path)
    assert code == 0, err
    assert "Trainer: reused" in out, out  # nothing changed: not trained again

    weights = base / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # the last byte of the last tensor: same size, still a valid file
    weights.write_bytes(bytes(data))
    code, out, err = cli("run", str(path), "--reuse", *ONE_EPOCH, cwd=tmp_path)
    assert code == 0, err
    assert "Trainer: reused" not in out, out
    assert "Pretrained: runs (bert/model.safetensors changed on disk)" in out, out
