"""The per-model metrics layout: every run also writes metrics/{model}/{model}_epoch_N.json, and the
analysis tools its users bring (tests/training/per_model_tools.py, verbatim) work on real runs' files."""
from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
from pathlib import Path
from typing import Any

import matplotlib
import pytest
import torch

from nodeflow.checkpoints.run_request import RunFolder, RunRequest
from nodeflow.core import DataError, RunInterrupted, default_registry
from nodeflow.training.checkpoint_callback import Checkpoints
from nodeflow.training.loop import TrainConfig, TrainingLoop
from nodes.datasets import DIGITS
from nodes.generators import REVIEWS, SHAPE_CAPTIONS, SHAPES_NODE, STORIES
from nodes.encoders import BERT_NODE as BERT
from nodes.encoders import CLIP_NODE as CLIP
from nodes.encoders import VIT_NODE as VIT
from nodes.gpt import GPT_NODE as GPT
from nodes.models import MLP, RESNET
from nodes.split import SPLIT
from nodes.training import TRAINER
from tests.nodes.test_datasets import Ctx, run
from tests.training import per_model_tools as tools

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16}


class RunCtx(Ctx):
    workflow_text = "{}"


def split(data: Any, base: Path) -> dict[str, Any]:
    return run(SPLIT, base, {"dataset": data}, val_fraction=0.25, test_fraction=0.0, stratify=False)


def train(base: Path, name: str, model_node: Any, data: dict[str, Any], epochs: int, **model: Any) -> Path:
    built = run(model_node, base, {"dataset": data["train"]}, **model)["model"]
    folder = base / "runs" / name
    params = TRAINER.defaults() | {"epochs": epochs, "batch_size": 16, "lr": 2e-3, "device": "cpu",
                                   "checkpoint_dir": str(folder), "save_every_n_epochs": 100}
    TRAINER.run(RunCtx(base), {"model": built, "train": data["train"], "val": data["val"]}, params)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real runs of the families the layout's comparison names, each a few epochs on tiny data."""
    base = tmp_path_factory.mktemp("metric_runs")
    stories = run(STORIES, base, samples=40, block_size=16)
    return {
        "gpt2": train(base, "gpt", GPT, stories, 3, **TINY),
        "vit": train(base, "vit", VIT, split(run(SHAPES_NODE, base, samples=64, image_size=8)["dataset"], base), 3,
                     patch_size=4, **TINY),
        "clip": train(base, "clip", CLIP, split(run(SHAPE_CAPTIONS, base, samples=48, image_size=8,
                                                    caption_length=8)["dataset"], base), 6,
                      patch_size=4, embed_dim=8, **TINY),
        "bert": train(base, "bert", BERT, split(run(REVIEWS, base, samples=64, max_length=12)["dataset"], base), 3,
                      **TINY),
        "resnet": train(base, "resnet", RESNET, split(run(SHAPES_NODE, base, samples=40, image_size=8)["dataset"],
                                                      base), 1, widths=[4]),
    }


@pytest.fixture
def seed_tree(runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder whose checkpoints/<model> links to each run's metrics/<model>: where the tools look."""
    for family, folder in runs.items():
        (tmp_path / "checkpoints").mkdir(exist_ok=True)
        (tmp_path / "checkpoints" / family).symlink_to(folder / "metrics" / family)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_each_run_writes_one_folder_per_model_holding_only_its_epoch_files(runs: dict[str, Path]) -> None:
    epochs = {"gpt2": 3, "vit": 3, "clip": 6, "bert": 3, "resnet": 1}
    for family, folder in runs.items():
        assert [p.name for p in (folder / "metrics").iterdir()] == [family]
        names = sorted(p.name for p in (folder / "metrics" / family).iterdir())
        assert names == sorted(f"{family}_epoch_{n}.json" for n in range(1, epochs[family] + 1))
        doc = json.loads((folder / "metrics" / family / f"{family}_epoch_1.json").read_text())
        assert list(doc)[:4] == ["epoch", "step", "config", "metrics"] and doc["epoch"] == 1
        assert doc["metrics"]["train"]["loss"] > 0 and doc["metrics"]["val"]["loss"] > 0
    assert json.loads((runs["gpt2"] / "history" / "epoch_3.json").read_text())["epoch"] == 3  # still written


def test_the_layouts_jq_lines_and_python_tools_run_unchanged(seed_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # cat checkpoints/gpt2/gpt2_epoch_3.json | jq .
    assert json.loads(Path("checkpoints/gpt2/gpt2_epoch_3.json").read_text())["epoch"] == 3
    # jq '.metrics.val.loss' checkpoints/*/epoch_*.json  (in this layout the pattern names no file)
    assert [json.load(open(f))["metrics"]["val"]["loss"] for f in glob.glob("checkpoints/*/epoch_*.json")] == []
    # jq '.metrics.val' checkpoints/*/*_epoch_*.json | tail -n 20
    vals = [json.load(open(f))["metrics"]["val"] for f in sorted(glob.glob("checkpoints/*/*_epoch_*.json"))]
    assert len(vals) == 16 and all(v["loss"] > 0 and v["time"] >= 0 for v in vals)
    # jq -r '[.epoch, .metrics.val.loss] | @csv' checkpoints/gpt2/*.json
    rows = [[d["epoch"], d["metrics"]["val"]["loss"]] for d in map(tools.load_checkpoint,
                                                                   glob.glob("checkpoints/gpt2/*.json"))]
    text = "\n".join(f"{epoch},{loss}" for epoch, loss in rows)
    assert sorted((int(e), float(v) > 0) for e, v in csv.reader(io.StringIO(text))) == [(1, True), (2, True), (3, True)]

    results = tools.compare_model_performance()
    assert list(results) == ["GPT-2", "ViT", "CLIP", "BERT"]
    assert all(r["train_loss"] > 0 and r["val_loss"] > 0 and r["training_time"] > 0 for r in results.values())
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda: None)
    progress = tools.analyze_training_progress("checkpoints/clip")
    plt.close("all")
    assert [cp["epoch"] for cp in progress] == [1, 2, 3, 4, 5, 6]


def test_the_os_walk_validator_passes_every_file_of_each_run(runs: dict[str, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for family, folder in runs.items():
        (tmp_path / family).mkdir()
        (tmp_path / family / "checkpoints").symlink_to(folder / "metrics")  # the run's own folder, by its name there
        monkeypatch.chdir(tmp_path / family)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            tools.validate_all()
        lines = sorted(printed.getvalue().splitlines())
        assert lines == sorted(f"✅ Checkpoint checkpoints/{family}/{p.name} is valid"
                               for p in (folder / "metrics" / family).iterdir())


def test_config_holds_the_architecture_and_training_settings_and_rebuilds_the_model(runs: dict[str, Path]) -> None:
    doc = json.loads((runs["gpt2"] / "metrics" / "gpt2" / "gpt2_epoch_3.json").read_text())
    config = doc["config"]
    assert {k: config[k] for k in ("n_layer", "n_head", "n_embd", "num_epochs", "batch_size", "learning_rate")} == \
        {"n_layer": 1, "n_head": 2, "n_embd": 16, "num_epochs": 3, "batch_size": 16, "learning_rate": 2e-3}
    assert config["vocab_size"] > 0 and config["model_type"] == "model.gpt"
    model = default_registry().get(config["model_type"]).rebuild({"params": config, **config})  # from the JSON alone
    final = torch.load(runs["gpt2"] / "final_model.pt")
    model.load_state_dict(final["model_state_dict"])  # every tensor's name and shape fits


def test_train_side_metrics_are_the_ones_the_layout_lists(runs: dict[str, Path]) -> None:
    def train_of(family: str, epoch: int) -> dict[str, float]:
        return json.loads((runs[family] / "metrics" / family / f"{family}_epoch_{epoch}.json").read_text())[
            "metrics"]["train"]

    vit = train_of("vit", 3)
    assert set(vit) == {"loss", "accuracy", "top5_accuracy", "time"}
    assert vit["accuracy"] <= vit["top5_accuracy"] <= 1.0 and vit["top5_accuracy"] < 1.0
    clip = train_of("clip", 6)
    assert set(clip) >= {"loss", "i2t_accuracy", "t2i_accuracy", "temperature", "time"}
    assert all(0.0 < clip[k] <= 1.0 for k in ("i2t_accuracy", "t2i_accuracy"))
    assert set(train_of("gpt2", 3)) == {"loss", "perplexity", "accuracy", "time"}
    assert set(train_of("bert", 3)) == {"loss", "accuracy", "time"}


def test_train_top5_accuracy_comes_out_the_same_after_a_mid_epoch_resume(tmp_path: Path) -> None:
    data = run(DIGITS, tmp_path)["dataset"]

    def loop(stop: Any = lambda: False) -> TrainingLoop:
        model = run(MLP, tmp_path, {"dataset": data}, hidden=[8])["model"]
        folder = RunFolder(tmp_path, RunRequest(save_every_n_epochs=100, backup_checkpoints=True))
        return TrainingLoop(model, data, None, TrainConfig(epochs=2, batch_size=64, lr=1e-3, device="cpu"),
                            [Checkpoints(folder, lambda event, **f: None, {})], stop)

    whole = loop().fit().history["train_top5_accuracy"]
    interrupted = loop()
    with pytest.raises(RunInterrupted):  # stopped after 10 of the second epoch's 28 batches
        interrupted.should_stop = lambda: interrupted.state.epoch == 1 and interrupted.state.batch_in_epoch == 10
        interrupted.fit()
    resumed = loop()
    resumed.load_state_dict(torch.load(tmp_path / "checkpoint_interrupted.pt"))
    assert 0.0 < whole[0] < whole[1] < 1.0
    assert resumed.fit().history["train_top5_accuracy"] == whole


def test_a_metrics_folder_nodeflow_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    data = split(run(DIGITS, tmp_path)["dataset"], tmp_path)
    theirs = tmp_path / "ck" / "metrics" / "mlp" / "mlp_epoch_1.json"
    theirs.parent.mkdir(parents=True)
    theirs.write_text('{"epoch": 1, "mine": true}')
    model = run(MLP, tmp_path, {"dataset": data["train"]}, hidden=[8])["model"]
    params = TRAINER.defaults() | {"epochs": 1, "device": "cpu", "checkpoint_dir": str(tmp_path / "ck")}
    with pytest.raises(DataError, match="checkpoint_dir"):
        TRAINER.run(RunCtx(tmp_path), {"model": model, "train": data["train"], "val": data["val"]}, params)
    assert theirs.read_text() == '{"epoch": 1, "mine": true}'
    TRAINER.run(RunCtx(tmp_path), {"model": model, "train": data["train"], "val": data["val"]},
                params | {"overwrite": True})  # moved aside, never deleted
    (kept,) = (tmp_path / "ck" / "previous").glob("*/metrics/mlp/mlp_epoch_1.json")
    assert kept.read_text() == '{"epoch": 1, "mine": true}'
    assert json.loads(theirs.read_text())["metrics"]["val"]["loss"] > 0


def test_train_accuracy_and_top5_count_the_models_own_predictions(tmp_path: Path) -> None:
    data = run(DIGITS, tmp_path)["dataset"]
    model = run(MLP, tmp_path, {"dataset": data}, hidden=[8])["model"]
    with torch.no_grad():
        ranks = (model(data.x) > model(data.x).gather(1, data.y[:, None])).sum(dim=1)  # classes above the truth
    config = TrainConfig(epochs=1, batch_size=64, optimizer="sgd", lr=0.0, momentum=0.0, device="cpu")
    history = TrainingLoop(model, data, None, config).fit().history  # lr 0: the weights never move
    assert history["train_accuracy"] == [float((ranks == 0).sum()) / len(data)]
    assert history["train_top5_accuracy"] == [float((ranks < 5).sum()) / len(data)]
