"""Every model family exports to ONNX and TorchScript, and the written file, loaded on its own by
onnxruntime or torch.jit.load, gives the checkpoint's torch outputs (within 1e-4) on a batch size
it was neither exported nor checked with."""
from __future__ import annotations

import json
from pathlib import Path

import onnxruntime
import pytest
import torch

from nodeflow.checkpoints.torch_files import restore_model
from nodeflow.checkpoints.export import export_model
from tests.export.families import BY_NAME, FAMILIES, flat, save

SINGLE = [f.name for f in FAMILIES if f.name != "clip"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("families")
    return {f.name: save(f, folder) for f in FAMILIES}


def onnx_outputs(path: Path, batch: torch.Tensor) -> list[torch.Tensor]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [torch.from_numpy(o) for o in session.run(None, {session.get_inputs()[0].name: batch.numpy()})]


def torch_outputs(module: torch.nn.Module, batch: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return flat(module(batch))


def assert_same(got: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    assert [g.shape for g in got] == [e.shape for e in expected]
    assert max(float((g - e).abs().max()) for g, e in zip(got, expected)) <= 1e-4


@pytest.mark.parametrize("name", SINGLE)
def test_onnx_file_gives_the_torch_outputs_at_another_batch_size(name: str, saved: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    dest = tmp_path / f"{name}.onnx"
    (done,) = export_model(saved[name], dest, "onnx")
    assert done.path == dest and done.difference <= 1e-4
    model, _ = restore_model(saved[name])
    (batch,) = BY_NAME[name].inputs(3, seed=7)  # exported with 2, checked with 1 and 5
    assert_same(onnx_outputs(dest, batch), torch_outputs(model, batch))
    described = json.loads((tmp_path / f"{name}.onnx.json").read_text())
    assert described["inputs"][0]["shape"][0] == "batch"
    assert described["inputs"][0]["dtype"] == ("int64" if batch.dtype == torch.int64 else "float32")


@pytest.mark.parametrize("name", SINGLE)
def test_torchscript_file_gives_the_torch_outputs_at_another_batch_size(name: str, saved: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    dest = tmp_path / f"{name}.pt"
    export_model(saved[name], dest, "torchscript")
    model, _ = restore_model(saved[name])
    (batch,) = BY_NAME[name].inputs(3, seed=7)
    assert_same(torch_outputs(torch.jit.load(str(dest)), batch), torch_outputs(model, batch))


@pytest.mark.parametrize("format,suffix", [("onnx", ".onnx"), ("torchscript", ".pt")])
def test_clip_becomes_an_image_and_a_text_encoder(format: str, suffix: str, saved: dict[str, Path],
                                                  tmp_path: Path) -> None:
    done = export_model(saved["clip"], tmp_path / f"clip{suffix}", format)
    assert [d.path.name for d in done] == [f"clip.image{suffix}", f"clip.text{suffix}"]
    assert not (tmp_path / f"clip{suffix}").exists()
    model, _ = restore_model(saved["clip"])
    images, ids = BY_NAME["clip"].inputs(3, seed=7)  # the first caption is padded
    for path, tower, batch in ((done[0].path, model.image, images), (done[1].path, model.text, ids)):
        got = onnx_outputs(path, batch) if format == "onnx" else torch_outputs(torch.jit.load(str(path)), batch)
        assert_same(got, torch_outputs(tower, batch))
