"""Every example workflow runs headless; digits_cnn meets the issue's acceptance checks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nodeflow import restore_model
from nodeflow.core import load_workflow
from nodeflow.training.factory import make_loss
from nodeflow.training.metrics import evaluate
from nodes.datasets import DIGITS
from nodes.split import SPLIT
from tests.conftest import WORKFLOWS, events, run_cli
from tests.nodes.test_datasets import Ctx


TINY = {  # examples too big for CI at their full size: the same graph, smaller
    "shakespeare_gpt": ["GPT.n_layer=1", "GPT.n_embd=32", "Trainer.max_iters=0", "Trainer.batch_size=512",
                        "Shakespeare.stride=0", "Generate.max_new_tokens=20"],
    "stories_modern": ["Stories.samples=60", "ModernTransformer.n_layer=1", "Trainer.max_iters=0",
                       "Generate.max_new_tokens=20"],
    "sentiment_bert": ["Reviews.samples=300"],
    "shapes_vit": ["Shapes.samples=300", "ViT.n_layer=1"],
    "shapes_clip": ["ShapeCaptions.samples=300"],
    "phantom_unet": ["Phantoms.samples=24", "UNet.channels=8,16"],
    "resnet20": ["Shapes.samples=200"],
    "finetune_gpt2_lora": ["Generate.max_new_tokens=20"],
}
SHORT_TEXT = {"shakespeare_gpt": 100_000, "finetune_gpt2_lora": 20_000}  # characters of the play they read
HISTORY = {  # the per-model metrics keys each family adds to metrics.train / metrics.val / the top level
    "shakespeare_gpt": ({"loss", "perplexity", "accuracy", "time"}, {"loss", "perplexity", "accuracy", "time"},
                        {"generation_samples", "learning_rate"}),
    "stories_modern": ({"perplexity", "accuracy"}, {"perplexity", "accuracy"}, {"generation_samples"}),
    "shapes_vit": ({"accuracy"}, {"accuracy", "top5_accuracy"}, {"class_accuracies", "learning_rate"}),
    "shapes_clip": ({"temperature", "time"}, {"i2t_accuracy", "t2i_accuracy", "time"}, set()),
    "phantom_unet": (set(), {"dice", "iou", "foreground_dice"}, set()),
}


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.json")), ids=lambda p: p.stem)
def test_example_runs_headless_and_writes_loadable_checkpoints(path: Path, tmp_path: Path) -> None:
    trainer = next(n.name for n in load_workflow(path).nodes.values() if n.type == "train.trainer")
    tiny = [arg for setting in TINY.get(path.stem, []) for arg in ("--set", setting)]
    if path.stem in SHORT_TEXT:  # the start of the play: the whole of it is 50 s of CPU a run
        text = (WORKFLOWS / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")[:SHORT_TEXT[path.stem]]
        (tmp_path / "shakespeare.txt").write_text(text, encoding="utf-8")
        tiny += ["--set", f"Shakespeare.path={tmp_path / 'shakespeare.txt'}"]
    result = run_cli("run", str(path), "--events", "jsonl", "--set", f"{trainer}.epochs=2",
                     "--set", f"{trainer}.save_every_n_epochs=1", "--set", f"{trainer}.checkpoint_dir=ck",
                     "--set", f"{trainer}.layout=nodeflow", *tiny, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = events(result.stdout)
    assert seen[-1]["event"] == "run_end" and seen[-1]["status"] == "completed"
    names = sorted(p.name for p in (tmp_path / "ck").glob("*.pt"))
    assert names == ["best_model.pt", "checkpoint_epoch_1.pt", "checkpoint_epoch_2.pt", "final_model.pt"]
    for name in names:
        assert torch.load(tmp_path / "ck" / name)["epoch"] in (1, 2)
    commands = [["verify", "ck"], ["list", "ck"], ["show", "ck/best_model.pt"]]
    if path.stem == "digits_cnn":  # family-independent: one example is enough
        commands += [["plot", "ck", "-o", "curves.png"], ["compare", "ck/checkpoint_epoch_2.pt", "ck/final_model.pt"]]
    for command in commands:
        done = run_cli("ckpt", *command, cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr)
    assert path.stem != "digits_cnn" or "bitwise equal: yes" in done.stdout
    model, _ = restore_model(tmp_path / "ck" / "final_model.pt")  # rebuilt from the checkpoint's own config
    assert model.nodeflow_config["type"] == torch.load(tmp_path / "ck" / "final_model.pt")["config"]["model"]["type"]
    if path.stem in HISTORY:
        train, val, top = HISTORY[path.stem]
        epoch = json.loads((tmp_path / "ck" / "history" / "epoch_2.json").read_text())
        assert set(epoch["metrics"]["train"]) >= train and set(epoch["metrics"]["val"]) >= val
        assert set(epoch) >= top
        if path.stem == "shapes_clip":
            assert set(epoch["metrics"]["retrieval"]) == {f"{w}_R@{k}" for w in ("I2T", "T2I") for k in (1, 5, 10)}


def test_shapes_resnet_uses_the_experiments_layout(tmp_path: Path) -> None:
    result = run_cli("run", str(WORKFLOWS / "shapes_resnet.json"), "--set", "Trainer.epochs=5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "experiments").iterdir()
    assert run.name.startswith("resnet_shapes_")
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == ["best.pt", "epoch_0005.pt", "latest.pt"]
    assert (run / "config.yaml").is_file() and (run / "tensorboard").is_dir()
    best = torch.load(run / "checkpoints" / "best.pt")
    assert best["monitor"] == "val_accuracy" and 0.0 <= best["best_acc"] <= 1.0


def test_digits_cnn_acceptance(tmp_path: Path, digits_workflow: Path) -> None:
    result = run_cli("run", str(digits_workflow), "--set", "Trainer.epochs=12", "--set",
                     "Trainer.save_every_n_epochs=5", "--set", f"Trainer.checkpoint_dir={tmp_path / 'ck'}",
                     "--events", "jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "ck"
    assert sorted(p.name for p in folder.glob("*.pt")) == [
        "best_model.pt", "checkpoint_epoch_10.pt", "checkpoint_epoch_5.pt", "final_model.pt"]
    for path in folder.glob("*.pt"):
        ckpt = torch.load(path)  # exactly as the seed snippets load it
        assert len(ckpt["epoch_losses"]) == ckpt["epoch"]
        assert ckpt["loss"] == ckpt["epoch_losses"][-1]
        for key in ("model_state_dict", "optimizer_state_dict", "scheduler_state_dict", "config"):
            assert key in ckpt
    final = torch.load(folder / "final_model.pt")
    assert final["epoch"] == 12
    assert torch.load(folder / "checkpoint_epoch_10.pt")["epoch_losses"] == final["epoch_losses"][:10]

    seen = events(result.stdout)
    saved = [(e["kind"], e["epoch"]) for e in seen if e["event"] == "checkpoint_saved"]
    assert ("periodic", 5) in saved and ("periodic", 10) in saved and saved[-1] == ("final", 12)
    epochs = [e for e in seen if e["event"] == "epoch_end"]
    assert [e["epoch"] for e in epochs] == list(range(1, 13))
    assert [e["metrics"]["train_loss"] for e in epochs] == final["epoch_losses"]
    reported = seen[-1]["metrics"]["Evaluate"]["accuracy"]

    model, ckpt = restore_model(folder / "final_model.pt")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, final["model_state_dict"][name]), name
    ctx = Ctx(Path("."))
    data = DIGITS.run(ctx, {}, DIGITS.defaults())["dataset"]
    test = SPLIT.run(ctx, {"dataset": data}, SPLIT.defaults())["test"]
    again = evaluate(model, test, make_loss("auto", test), torch.device("cpu"))
    assert again["accuracy"] == reported


def test_digits_cnn_defaults_reach_97_percent(tmp_path: Path, digits_workflow: Path) -> None:
    result = run_cli("run", str(digits_workflow), "--events", "jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert events(result.stdout)[-1]["metrics"]["Evaluate"]["accuracy"] >= 0.97
    assert (tmp_path / "checkpoints" / "digits_cnn" / "run_1" / "final_model.pt").is_file()


def test_console_output_has_the_seed_lines(tmp_path: Path, digits_workflow: Path) -> None:
    result = run_cli("run", str(digits_workflow), "--set", "Trainer.epochs=5", "--set",
                     "Trainer.checkpoint_dir=out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "✓ Checkpoints will be saved to: out" in lines
    assert any(line.startswith("Epoch [1/5], Loss: ") for line in lines)
    assert "  ✓ Saved checkpoint: checkpoint_epoch_5.pt" in lines
    assert any(line.startswith("  ✓ Saved best model (val_loss: ") for line in lines)
    assert f"✓ Training complete. Final model saved to: {Path('out') / 'final_model.pt'}" in lines
    assert any(line.startswith("Evaluate: accuracy ") for line in lines)


def test_empty_checkpoint_dir_disables_saving(tmp_path: Path, digits_workflow: Path) -> None:
    result = run_cli("run", str(digits_workflow), "--set", "Trainer.epochs=1", "--set",
                     "Trainer.checkpoint_dir=", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Checkpoints disabled (checkpoint_dir is empty)" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_load_checkpoint_node_builds_an_inference_graph(tmp_path: Path, digits_workflow: Path) -> None:
    run_cli("run", str(digits_workflow), "--set", "Trainer.epochs=3", "--set", "Trainer.checkpoint_dir=ck",
            cwd=tmp_path)
    doc = (WORKFLOWS / "digits_cnn.json").read_text()
    workflow = load_workflow(WORKFLOWS / "digits_cnn.json")
    del workflow.nodes["cnn"], workflow.nodes["trainer"]
    from nodeflow.core import Link, Node, save_workflow

    workflow.nodes["load"] = Node("load", "model.load_checkpoint", "Load", {"path": "ck/best_model.pt"})
    workflow.links = [k for k in workflow.links if k.dst not in ("cnn", "trainer") and k.src != "trainer"]
    workflow.links.append(Link("load", "model", "evaluate", "model"))
    save_workflow(workflow, tmp_path / "infer.json")
    result = run_cli("run", "infer.json", "--events", "jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert events(result.stdout)[-1]["metrics"]["Evaluate"]["accuracy"] > 0.9
    assert doc == (WORKFLOWS / "digits_cnn.json").read_text()
