"""The experiments layout, the .pth names, and `--checkpoint-config` YAML."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from nodeflow.checkpoints.manifest import read_entries, verify_file
from tests.conftest import WORKFLOWS, run_cli
from tests.reliability.test_fuzz_workflows import cli

WORKFLOW = str(WORKFLOWS / "wine_mlp.json")
SMALL = ["--set", "Trainer.epochs=4", "--set", "Trainer.save_every_n_epochs=2"]


def experiment(tmp_path: Path) -> Path:
    (run,) = (tmp_path / "experiments").iterdir()
    return run


def test_experiments_layout_writes_its_tree_and_keys(tmp_path: Path) -> None:
    done = run_cli("run", WORKFLOW, *SMALL, "--set", "Trainer.layout=experiments", "--set",
                   "Trainer.checkpoint_dir=experiments", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = experiment(tmp_path)
    assert run.name.startswith("mlp_wine_") and len(run.name) == len("mlp_wine_20240115_143022")
    files = {p.name for p in (run / "checkpoints").iterdir()}
    assert {"epoch_0002.pt", "epoch_0004.pt", "latest.pt", "best.pt"} <= files
    assert not any("final" in name for name in files)  # latest.pt is the final state in this layout
    assert (run / "tensorboard").is_dir()
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["checkpoint"] == {"enabled": True, "dir": "experiments", "experiment_name": run.name,
                                    "save_frequency": 2, "save_best": True, "resume": "", "monitor": "auto",
                                    "save_top_k": 0, "early_stop_patience": 0}
    assert config["model"]["type"] == "model.mlp"
    latest = torch.load(run / "checkpoints" / "latest.pt")  # a plain torch.load, as the layout's users load it
    for key in ("model_state_dict", "optimizer_state_dict", "scheduler_state_dict", "scaler_state_dict", "epoch",
                "best_acc", "config"):
        assert key in latest, key
    assert latest["epoch"] == 4 and latest["best_val_loss"] == latest["best"]  # wine monitors val_loss
    assert latest["best_acc"] == max(latest["history"]["val_accuracy"])  # an accuracy, never a loss
    for name, entry in read_entries(run / "checkpoints").items():
        assert verify_file(run / "checkpoints" / name, entry) is None, name
    hyper = json.loads((run / "hyperparameters.json").read_text())
    assert hyper["epochs"] == 4 and hyper["layout"] == "experiments"
    listing = run_cli("ckpt", "verify", str(run), cwd=tmp_path)  # the run folder finds its checkpoints/
    assert listing.returncode == 0 and "4 of 4 checkpoint(s) verified" in listing.stdout


def test_the_yaml_resume_line_continues_the_experiment_exactly(tmp_path: Path) -> None:
    yaml_file = tmp_path / "ckpt.yaml"
    yaml_file.write_text('checkpoint:\n  enabled: true\n  dir: "./experiments"\n  save_frequency: 2\n')
    first = run_cli("run", WORKFLOW, "--checkpoint-config", str(yaml_file), "--set", "Trainer.epochs=2",
                    cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run = experiment(tmp_path)
    yaml_file.write_text(yaml_file.read_text() + f'  resume: "./experiments/{run.name}/checkpoints/latest.pt"\n')
    second = run_cli("run", WORKFLOW, "--checkpoint-config", str(yaml_file), "--set", "Trainer.epochs=4",
                     cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Resuming from" in second.stdout
    assert experiment(tmp_path) == run  # continued in place: no second experiment
    whole = tmp_path / "whole"
    whole.mkdir()
    straight = run_cli("run", WORKFLOW, *SMALL, "--set", "Trainer.layout=experiments", "--set",
                       "Trainer.checkpoint_dir=experiments", cwd=whole)
    assert straight.returncode == 0, straight.stderr
    resumed = torch.load(run / "checkpoints" / "latest.pt")
    reference = torch.load(experiment(whole) / "checkpoints" / "latest.pt")
    assert resumed["epoch"] == 4 and resumed["epoch_losses"] == reference["epoch_losses"]
    for key, tensor in reference["model_state_dict"].items():
        assert torch.equal(tensor, resumed["model_state_dict"][key]), key


def test_the_yaml_block_chooses_the_metric_best_pt_follows(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("checkpoint:\n  enabled: true\n  save_frequency: 2\n  monitor: val_accuracy\n")
    done = run_cli("run", WORKFLOW, "--checkpoint-config", "c.yaml", "--set", "Trainer.epochs=2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    best = torch.load(experiment(tmp_path) / "checkpoints" / "best.pt")
    assert best["monitor"] == "val_accuracy" and best["best_val_accuracy"] == best["best_acc"] == best["best"]
    config = yaml.safe_load((experiment(tmp_path) / "config.yaml").read_text())
    assert config["checkpoint"]["monitor"] == "val_accuracy"  # the run's config.yaml runs the same again


def test_a_named_experiment_is_never_run_over(tmp_path: Path) -> None:
    args = ["run", WORKFLOW, *SMALL, "--set", "Trainer.layout=experiments", "--set",
            "Trainer.checkpoint_dir=experiments", "--set", "Trainer.experiment_name=my_experiment_v1"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    latest = tmp_path / "experiments" / "my_experiment_v1" / "checkpoints" / "latest.pt"
    before = latest.read_bytes()
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 2
    assert "already holds run" in again.stderr and "my_experiment_v1" in again.stderr
    assert latest.read_bytes() == before
    moved = run_cli(*args, "--overwrite", cwd=tmp_path)  # the old run goes to previous/, byte for byte
    assert moved.returncode == 0, moved.stderr
    (old,) = (tmp_path / "experiments" / "my_experiment_v1" / "previous").iterdir()
    assert (old / "checkpoints" / "latest.pt").read_bytes() == before
    assert (old / "config.yaml").is_file()


def test_pth_extension_gives_the_pth_names(tmp_path: Path) -> None:
    done = run_cli("run", WORKFLOW, *SMALL, "--set", "Trainer.extension=.pth", "--set", "Trainer.checkpoint_dir=ck",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = {p.name for p in (tmp_path / "ck").iterdir()}
    assert {"checkpoint_epoch_2.pth", "checkpoint_epoch_4.pth", "best_model.pth", "final_model.pth",
            "config.json", "hyperparameters.json", "training_log.txt"} <= names
    resumed = run_cli("run", WORKFLOW, *SMALL, "--set", "Trainer.extension=.pth", "--set", "Trainer.checkpoint_dir=ck",
                      "--set", "Trainer.epochs=5", "--resume", "auto", cwd=tmp_path)
    assert resumed.returncode == 0 and "final_model.pth (epoch 4" in resumed.stdout


def test_bad_layout_params_in_a_workflow_file_are_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = {
        ("extension", ".pkl"): "node 'Trainer' field 'extension': must be one of .pt, .pth",
        ("experiment_name", "../elsewhere"): "node 'Trainer' field 'experiment_name': must be a plain folder name",
    }
    for (field, value), expected in cases.items():
        doc = json.loads(Path(WORKFLOW).read_text())
        doc["nodes"]["wine"]["params"]["path"] = str(WORKFLOWS / "data" / "wine.csv")
        trainer = next(n for n in doc["nodes"].values() if n["name"] == "Trainer")
        trainer["params"].update({"layout": "experiments", field: value})
        (tmp_path / "w.json").write_text(json.dumps(doc))
        done = run_cli("run", "w.json", cwd=tmp_path)
        assert done.returncode == 2 and expected in done.stderr and "w.json" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "checkpoints").exists()


def test_bad_checkpoint_yaml_names_file_line_and_key(tmp_path: Path) -> None:
    cases = {
        "checkpoint:\n  enabled: true\n  save_frequency: 0\n":
            "c.yaml:3: field 'checkpoint.save_frequency': must be a whole number of epochs, 1 or more (got 0)",
        "checkpoint:\n  enabled: true\n  dirr: x\n": "c.yaml:3: field 'checkpoint.dirr': unknown key",
        "checkpoint: !!python/object/apply:os.system ['touch pwned']\n":
            "c.yaml:1: not valid YAML: object tags (!!python/...) are not allowed",
        "- just\n- a list\n": "c.yaml: expected a mapping with a 'checkpoint:' block",
        "checkpoint:\n  enabled: true\n  experiment_name: a/b\n":
            "c.yaml:3: field 'checkpoint.experiment_name': must be a plain folder name",
        "checkpoint:\n  enabled: yes please\n": "c.yaml:2: field 'checkpoint.enabled': must be true or false",
        "checkpoint:\n  enabled: true\n  monitor: val_acc\n": "c.yaml:3: field 'checkpoint.monitor': must be one of",
    }
    for text, expected in cases.items():  # in this process: each is refused before anything runs
        (tmp_path / "c.yaml").write_text(text)
        code, _, err = cli("run", WORKFLOW, "--checkpoint-config", "c.yaml", cwd=tmp_path)
        assert code == 2 and expected in err, (text, err)
        assert not (tmp_path / "pwned").exists() and not (tmp_path / "experiments").exists()


def test_enabled_false_saves_nothing(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("checkpoint:\n  enabled: false\n")
    done = run_cli("run", WORKFLOW, "--checkpoint-config", "c.yaml", "--set", "Trainer.epochs=1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("*.pt"))
