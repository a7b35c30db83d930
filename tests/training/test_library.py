"""The checkpoint library: `ckpt scan` finds every checkpoint under a root, whoever
wrote it, without unpickling anything; bare .pth files load for inference."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from tests.conftest import WORKFLOWS, run_cli

WINE_MLP = {"type": "model.mlp", "params": {"hidden": [32], "activation": "relu", "dropout": 0.0},
            "input_shape": [13], "output_size": 3}


class Evil:
    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.target}",)


def custom_models_tree(root: Path) -> dict[str, torch.Tensor]:
    """A checkpoints/ folder with a custom-models tree, written by hand as another tool would; returns the weights."""
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(13, 32), torch.nn.ReLU(), torch.nn.Dropout(0.0),
                              torch.nn.Linear(32, 3))  # the layout of NodeFlow's MLP with hidden=[32]
    weights = net.state_dict()
    (root / "custom_models" / "wine_net").mkdir(parents=True)
    (root / "experiments" / "exp1").mkdir(parents=True)
    torch.save(weights, root / "best_model.pth")
    torch.save({"model_state_dict": weights, "epoch": 20, "best_acc": 0.94}, root / "final_model.pth")
    torch.save({"model_state_dict": weights, "epoch": 5, "loss": 0.41}, root / "checkpoint_epoch_05.pth")
    torch.save(weights, root / "winenet_v2.pth")
    (root / "custom_models" / "wine_net" / "config.json").write_text(json.dumps(WINE_MLP))
    torch.save(weights, root / "custom_models" / "wine_net" / "weights.pth")
    torch.save(weights, root / "experiments" / "exp1" / "model.pth")
    (root / "experiments" / "exp1" / "training_log.txt").write_text("epoch 1 loss 0.9\n")
    (root / "hyperparameters.json").write_text('{"lr": 0.001}')
    torch.save({"x": Evil(root.parent / "pwned")}, root / "evil.pth")
    return weights


def scan_json(root: Path, cwd: Path) -> tuple[dict[str, dict], list[str]]:
    done = run_cli("ckpt", "scan", str(root), "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return {r["file"]: r for r in lines[:-1]}, lines[-1]["folders"]


def test_scan_finds_a_custom_models_tree_and_nodeflow_runs_without_unpickling(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    root.mkdir()
    custom_models_tree(root)
    run = run_cli("run", str(WORKFLOWS / "wine_mlp.json"), "--set", "Trainer.epochs=2", "--set",
                  "Trainer.save_every_n_epochs=1", "--set", "Trainer.layout=experiments", "--set",
                  "Trainer.checkpoint_dir=checkpoints/experiments", "--set", "Trainer.experiment_name=ours",
                  cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    found, folders = scan_json(root, tmp_path)
    kinds = {name: (r["kind"], r["status"]) for name, r in found.items()}
    assert kinds["best_model.pth"] == ("state_dict", "unverified (no manifest)")
    assert kinds["winenet_v2.pth"] == ("state_dict v2", "unverified (no manifest)")
    assert kinds["custom_models/wine_net/weights.pth"][0] == "custom model"
    assert found["custom_models/wine_net/weights.pth"]["model"] == "model.mlp"
    assert kinds["experiments/exp1/model.pth"][0] == "experiment"
    assert found["final_model.pth"]["kind"] == "trainer checkpoint"
    assert found["final_model.pth"]["epoch"] == 20 and found["final_model.pth"]["metrics"] == {"best_acc": 0.94}
    assert found["checkpoint_epoch_05.pth"]["epoch"] == 5
    assert kinds["evil.pth"] == ("pickled objects", "refused (pickled code): posix.system")
    assert not (tmp_path / "pwned").exists()  # scanning never ran the pickle
    ours = {name: r for name, r in found.items() if name.startswith("experiments/ours/")}
    assert set(ours) == {f"experiments/ours/checkpoints/{n}" for n in
                         ("epoch_0001.pt", "epoch_0002.pt", "best.pt", "latest.pt")}
    assert all(r["status"] == "verified" and r["kind"].startswith("nodeflow") for r in ours.values())
    assert str((root / "experiments" / "ours" / "checkpoints").resolve()) in folders
    latest = root / "experiments" / "ours" / "checkpoints" / "latest.pt"
    data = bytearray(latest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    latest.write_bytes(bytes(data))
    found, _ = scan_json(root, tmp_path)
    assert found["experiments/ours/checkpoints/latest.pt"]["status"].startswith("✗ SHA-256 does not match")
    table = run_cli("ckpt", "scan", str(root), cwd=tmp_path)
    assert "custom_models/wine_net/weights.pth" in table.stdout and "11 file(s) under" in table.stdout


def test_scan_of_a_missing_root_is_one_line_exit_2(tmp_path: Path) -> None:
    done = run_cli("ckpt", "scan", "no/such/root", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: no/such/root: the library root does not exist or is not a folder"


def inference_workflow(tmp_path: Path, checkpoint: Path, hidden: list[int] | None) -> Path:
    """Wine -> Split -> [MLP ->] LoadCheckpoint -> Evaluate on the test split."""
    nodes = {
        "wine": {"type": "data.csv", "name": "Wine", "params": {"path": str(WORKFLOWS / "data" / "wine.csv"),
                                                                 "target": "cultivar"}},
        "split": {"type": "data.split", "name": "Split", "params": {}},
        "load": {"type": "model.load_checkpoint", "name": "LoadCheckpoint", "params": {"path": str(checkpoint)}},
        "evaluate": {"type": "eval.evaluate", "name": "Evaluate", "params": {}},
    }
    links = [(("wine", "dataset"), ("split", "dataset")), (("load", "model"), ("evaluate", "model")),
             (("split", "test"), ("evaluate", "dataset"))]
    if hidden is not None:
        nodes["mlp"] = {"type": "model.mlp", "name": "MLP", "params": {"hidden": hidden}}
        links += [(("split", "train"), ("mlp", "dataset")), (("mlp", "model"), ("load", "model"))]
    doc = {"format": "nodeflow.workflow", "version": 1, "name": "infer",
           "nodes": {k: {"version": 1, **v} for k, v in nodes.items()},
           "links": [{"from": {"node": a, "port": p}, "to": {"node": b, "port": q}} for (a, p), (b, q) in links]}
    path = tmp_path / "infer.json"
    path.write_text(json.dumps(doc))
    return path


def test_bare_pth_files_load_for_inference(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    root.mkdir()
    custom_models_tree(root)
    by_config = run_cli("run", str(inference_workflow(tmp_path, root / "custom_models/wine_net/weights.pth", None)),
                        cwd=tmp_path)  # config.json beside it names the model type
    assert by_config.returncode == 0, by_config.stderr
    assert "Evaluate: accuracy" in by_config.stdout
    bare = inference_workflow(tmp_path, root / "best_model.pth", None)
    refused = run_cli("run", str(bare), cwd=tmp_path)
    assert refused.returncode == 2 and "link a model node to LoadCheckpoint's model input" in refused.stderr
    linked = run_cli("run", str(inference_workflow(tmp_path, root / "best_model.pth", [32])), cwd=tmp_path)
    assert linked.returncode == 0, linked.stderr
    assert "Evaluate: accuracy" in linked.stdout
    wrong = run_cli("run", str(inference_workflow(tmp_path, root / "best_model.pth", [64])), cwd=tmp_path)
    assert wrong.returncode == 2
    assert "weights do not fit the linked model: '1.weight' is (32, 13) in the checkpoint, (64, 13)" in wrong.stderr
    evil = run_cli("run", str(inference_workflow(tmp_path, root / "evil.pth", [32])), cwd=tmp_path)
    assert evil.returncode == 2 and "refused" in evil.stderr and not (tmp_path / "pwned").exists()
