"""The model families beyond GPT, bring-your-own models, and the Trainer options transformers need."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from nodeflow import restore_model
from nodeflow.core import UntrustedCodeError
from nodeflow.training.loop import TrainConfig, TrainingLoop
from nodes.datasets import DIGITS
from nodes.encoders import TextEncoder
from nodes.generators import PHANTOMS, REVIEWS
from nodes.encoders import BERT_NODE as BERT
from nodes.models import MLP, UNET
from tests.conftest import WORKFLOWS, run_cli
from tests.nodes.test_datasets import run

STORIES = str(WORKFLOWS / "stories_modern.json")
SMALL_STORIES = ["--set", "Stories.samples=60", "--set", "ModernTransformer.n_layer=1", "--set",
                 "Trainer.max_iters=0", "--set", "Trainer.epochs=2", "--set", "Generate.max_new_tokens=5"]


def test_bert_ignores_padding_and_reads_word_order() -> None:
    data = run(REVIEWS, Path("."), samples=50, max_length=24, tokenizer="bpe", vocab_size=300)["dataset"]
    model = run(BERT, Path("."), {"dataset": data})["model"].eval()
    ids = data.x[:4].clone()
    assert bool((ids == 0).any())  # the reviews are padded
    more_padding = torch.cat([ids, torch.zeros(4, 8, dtype=ids.dtype)], dim=1)[:, :24]
    assert isinstance(model, TextEncoder) and model(ids).shape == (4, 2)
    assert torch.allclose(model(ids[:, :20]), model(more_padding[:, :20]), atol=1e-6)
    assert torch.allclose(model(ids[:, :int((ids != 0).sum(1).max())]), model(ids), atol=1e-5)
    shuffled = ids.clone()
    length = int((ids[0] != 0).sum())
    shuffled[0, :length] = ids[0, :length].flip(0)
    assert not torch.allclose(model(ids)[0], model(shuffled)[0])  # positions matter: not a bag of words


def test_unet_segments_phantoms_after_a_short_training() -> None:
    data = run(PHANTOMS, Path("."), samples=48, image_size=32)["dataset"]
    model = run(UNET, Path("."), {"dataset": data}, channels=[8, 16, 32])["model"]
    assert model(data.x[:2]).shape == (2, 4, 32, 32)  # class scores per pixel
    loop = TrainingLoop(model, data, data, TrainConfig(epochs=10, batch_size=8, lr=3e-3, loss="dice_ce", device="cpu"))
    dice = loop.fit().history["val_foreground_dice"]
    assert dice[-1] > 0.55 and dice[-1] > dice[0] + 0.2


def test_bad_transformer_settings_stop_before_training_with_one_line(tmp_path: Path) -> None:
    vit = run_cli("run", str(WORKFLOWS / "shapes_vit.json"), "--set", "Shapes.samples=200", "--set",
                  "ViT.patch_size=5", "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path)
    assert vit.returncode == 2 and not (tmp_path / "ck").exists()
    assert "node 'ViT' field 'patch_size': image size 32 is not divisible by patch_size 5" in vit.stderr
    gqa = run_cli("validate", STORIES, "--set", "ModernTransformer.n_kv_head=3", cwd=tmp_path)
    assert gqa.returncode == 2 and "field 'n_kv_head': n_head 4 is not divisible by n_kv_head 3" in gqa.stderr
    assert len(gqa.stderr.strip().splitlines()) == 1


def test_resuming_with_another_tokenizer_is_refused_and_the_checkpoints_stay(tmp_path: Path) -> None:
    first = run_cli("run", STORIES, *SMALL_STORIES, "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in (tmp_path / "ck").glob("*.pt")}
    again = run_cli("run", STORIES, *SMALL_STORIES, "--set", "Trainer.checkpoint_dir=ck", "--set",
                    "Stories.vocab_size=300", "--resume", "auto", cwd=tmp_path)
    assert again.returncode == 2
    assert re.search(r"field 'resume': cannot resume from .*final_model.pt: the model was trained with another "
                     r"tokenizer \(bpe, \d+ ids\) than this data's \(bpe, 300 ids\)$", again.stderr.strip())
    assert {p.name: p.read_bytes() for p in (tmp_path / "ck").glob("*.pt")} == before


def test_gradient_accumulation_matches_one_large_batch() -> None:
    data = run(DIGITS, Path("."))["dataset"]

    def trained(batch: int, accum: int) -> dict:
        model = run(MLP, Path("."), {"dataset": data}, hidden=[32])["model"]
        config = TrainConfig(epochs=2, batch_size=batch, grad_accum_steps=accum, optimizer="sgd", lr=0.1,
                             device="cpu")
        TrainingLoop(model, data, None, config).fit()
        return model.state_dict()

    def same(a: dict, b: dict) -> bool:
        return all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)

    whole = trained(64, 1)
    assert same(whole, trained(16, 4))  # 4 batches of 16 added up: one step of 64, as in memory it would be
    assert not same(whole, trained(16, 1))


def test_iteration_checkpoints_resume_to_the_same_weights(tmp_path: Path) -> None:
    common = [*SMALL_STORIES, "--set", "Trainer.epochs=1", "--set", "Trainer.max_iters=9",
              "--set", "Trainer.batch_size=4", "--set", "Trainer.save_every_n_iters=3"]
    whole = run_cli("run", STORIES, *common, "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert {p.name for p in (tmp_path / "ck").glob("checkpoint_iter_*.pt")} == {"checkpoint_iter_3.pt",
                                                                               "checkpoint_iter_6.pt"}
    assert torch.load(tmp_path / "ck" / "checkpoint_iter_6.pt")["step"] == 6
    shutil.copytree(tmp_path / "ck", tmp_path / "ck2")
    for name in ("final_model.pt", "best_model.pt", "checkpoint_epoch_1.pt"):
        (tmp_path / "ck2" / name).unlink(missing_ok=True)
    resumed = run_cli("run", STORIES, *common, "--set", "Trainer.checkpoint_dir=ck2", "--set",
                      f"Trainer.resume={tmp_path / 'ck2' / 'checkpoint_iter_6.pt'}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    a, b = (torch.load(tmp_path / d / "final_model.pt")["model_state_dict"] for d in ("ck", "ck2"))
    assert all(torch.equal(a[k], b[k]) for k in a)


MODULE = '''
import pytest
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x):
        return self.body(x)


NOT_A_MODULE = 3
'''


def test_python_model_from_a_file_beside_the_workflow(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "my_net.py").write_text(MODULE)
    workflow = json.loads((WORKFLOWS / "digits_cnn.json").read_text())
    node = next(n for n in workflow["nodes"].values() if n["type"] == "model.cnn")
    node.update(type="model.python", params={"target": "my_net.py:Net", "kwargs": '{"hidden": 24}'})
    (folder / "wf.json").write_text(json.dumps(workflow))
    base = ["--set", "Trainer.epochs=2", "--set", "Trainer.checkpoint_dir=ck"]
    other = ["--set", "Trainer.epochs=2", "--set", "Trainer.checkpoint_dir=ck3", "--set"]
    checked = run_cli("validate", str(folder / "wf.json"), *base, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "warning:" in checked.stderr and "runs Python code from my_net.py" in checked.stderr
    done = run_cli("run", str(folder / "wf.json"), *base, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(tmp_path / "ck", elsewhere / "ck")
    with pytest.raises(UntrustedCodeError) as refused:  # rebuilding runs my_net.py: only when asked
        restore_model(elsewhere / "ck" / "final_model.pt")
    assert refused.value.kind == "file" and refused.value.source == str((folder / "my_net.py").resolve())
    model, _ = restore_model(elsewhere / "ck" / "final_model.pt", trust_code=True)  # found by its saved path
    assert type(model).__name__ == "Net" and model.body[1].out_features == 24
    bad = run_cli("run", str(folder / "wf.json"), *other, "CNN.target=my_net.py:NOT_A_MODULE", cwd=tmp_path)
    assert bad.returncode == 2 and not (tmp_path / "ck3").exists()
    assert "field 'target': my_net.py has a non-nn.Module 'NOT_A_MODULE'" in bad.stderr
    missing = run_cli("run", str(folder / "wf.json"), *other, "CNN.target=no_such_pkg.mod:Net", cwd=tmp_path)
    assert missing.returncode == 2 and "no_such_pkg.mod does not import: ModuleNotFoundError" in missing.stderr
