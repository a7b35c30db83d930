"""`nodeflow ckpt export --format onnx|torchscript` as a user runs it: a trained digits model exported and
checked, files NodeFlow did not write left alone, user code only with --trust, a model whose export
does not match torch refused with exit 1 and nothing written."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from sklearn.datasets import load_digits

from nodeflow.core.errors import CheckpointError
from nodeflow.checkpoints.torch_files import restore_model
from nodeflow.checkpoints.export import VerificationFailed, export_model
from tests.conftest import ROOT, WORKFLOWS, build_once, run_cli
from tests.export.families import NET, save_python

NOISY = NET.format(noise=" + 0.1 * torch.randn_like(self.fc(x))")  # outputs that no export can reproduce


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def build(cwd: Path) -> None:
        result = run_cli("run", str(WORKFLOWS / "digits_cnn.json"), "--set", "Trainer.epochs=1", "--set",
                         "Trainer.checkpoint_dir=ck", cwd=cwd)
        assert result.returncode == 0, result.stderr

    return build_once(tmp_path_factory, "export_digits", build) / "ck" / "best_model.pt"


def test_a_trained_digits_model_exports_to_onnx_and_predicts_the_same_digits(trained: Path, tmp_path: Path) -> None:
    result = run_cli("ckpt", "export", str(trained), "model.onnx", "--format", "onnx", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    reported = re.search(r"max \|difference\| against torch (\S+) on batches of 1 and 5", result.stdout)
    assert reported and float(reported.group(1)) <= 1e-4
    images = (load_digits().images[:64].astype(np.float32) / 16.0)[:, None]  # real digits, as the Digits node
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"input": images})[0])
    model, _ = restore_model(trained)
    with torch.no_grad():
        expected = model(torch.from_numpy(images))
    assert float((got - expected).abs().max()) <= 1e-4
    assert torch.equal(got.argmax(1), expected.argmax(1))


def test_a_file_nodeflow_did_not_write_is_left_alone(trained: Path, tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"someone's model")
    refused = run_cli("ckpt", "export", str(trained), "model.pt", "--format", "torchscript", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "exists and NodeFlow did not write it" in refused.stderr
    assert (tmp_path / "model.pt").read_bytes() == b"someone's model"
    forced = run_cli("ckpt", "export", str(trained), "model.pt", "--format", "torchscript", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    again = run_cli("ckpt", "export", str(trained), "model.pt", "--format", "torchscript", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # its own earlier export is replaced without --force
    with torch.no_grad():
        torch.jit.load(str(tmp_path / "model.pt"))(torch.zeros(2, 1, 8, 8))


def test_user_code_is_run_only_with_trust(tmp_path: Path) -> None:
    checkpoint = save_python(NET.format(noise=""), tmp_path / "code")
    refused = run_cli("ckpt", "export", str(checkpoint), "net.pt", "--format", "torchscript", cwd=tmp_path)
    assert refused.returncode == 2 and "--trust" in refused.stderr and "my_model.py" in refused.stderr
    assert not (tmp_path / "net.pt").exists()
    trusted = run_cli("ckpt", "export", str(checkpoint), "net.pt", "--format", "torchscript", "--trust",
                      cwd=tmp_path)
    assert trusted.returncode == 0, trusted.stderr
    assert (tmp_path / "net.pt").is_file()


def test_an_export_that_differs_from_torch_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    checkpoint = save_python(NOISY, tmp_path / "code")
    result = run_cli("ckpt", "export", str(checkpoint), "net.pt", "--format", "torchscript", "--trust",
                     cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "exceeds 1e-4 (fp32); nothing written" in result.stderr
    assert not (tmp_path / "net.pt").exists() and not (tmp_path / "net.pt.json").exists()
    with pytest.raises(VerificationFailed, match="exceeds 1e-4"):
        export_model(checkpoint, tmp_path / "net.onnx", "onnx", trust=True)
    assert not (tmp_path / "net.onnx").exists()


def test_a_model_that_cannot_be_split_for_export_says_why_in_one_line(tmp_path: Path) -> None:
    checkpoint = save_python(NET.format(noise=""), tmp_path / "code", task="contrastive")
    with pytest.raises(CheckpointError) as caught:
        export_model(checkpoint, tmp_path / "net.onnx", "onnx", trust=True)
    assert "\n" not in str(caught.value) and "only the built-in CLIP splits" in str(caught.value)
    assert not (tmp_path / "net.onnx").exists()


def test_onnx_libraries_load_only_when_an_onnx_export_runs() -> None:
    code = ("import sys, nodeflow.cli, nodeflow.cli_ckpt, nodeflow.checkpoints.export, nodeflow.checkpoints.export\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'onnxscript')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_folder_as_destination_is_one_line_exit_2(trained: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from nodeflow.cli import main

    (tmp_path / "out").mkdir()
    assert main(["ckpt", "export", str(trained), str(tmp_path / "out"), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder; give the file to write" in err
    assert not list((tmp_path / "out").iterdir())
