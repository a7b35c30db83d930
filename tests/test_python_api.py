"""Workflows from Python (nodeflow.load): params checked on assignment, a real run returning each
node's outputs, Ctrl-C keeping a resumable checkpoint as `nodeflow run` does, and save()'s rules."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nodeflow
from nodeflow.core.errors import UserError
from nodeflow.runs import load_runs
from tests.conftest import ROOT, WORKFLOWS

WINE = WORKFLOWS / "wine_mlp.json"


def test_import_nodeflow_stays_light() -> None:
    code = "import sys, nodeflow; nodeflow.load; print('torch' in sys.modules, 'nodeflow.api' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.split() == ["False", "True"], done.stderr  # the API loads; torch waits for a workflow


def test_params_are_checked_on_assignment_with_the_set_errors() -> None:
    wf = nodeflow.load(WINE)
    trainer = wf["Trainer"]
    trainer.config["checkpoint_dir"] = "checkpoints"
    trainer.config["save_every_n_epochs"] = 5
    trainer.config["num_epochs"] = 3  # the same param as epochs
    assert (trainer.config.get("checkpoint_dir"), trainer.config.get("save_every_n_epochs")) == ("checkpoints", 5)
    assert trainer.params["epochs"] == trainer.config["num_epochs"] == 3
    assert wf.workflow.node_by_name("Trainer").params["epochs"] == 3
    with pytest.raises(UserError) as caught:
        trainer.params["epochs"] = 0
    assert str(caught.value) == f"{WINE}: node 'Trainer' field 'epochs': must be at least 1 (got 0)"
    with pytest.raises(UserError, match=r"node 'Trainer' field 'save_every_n_epochs': expected an integer"):
        trainer.params["save_every_n_epochs"] = "often"
    with pytest.raises(UserError, match=r"node 'Trainer' field 'epochz': unknown param \(this node has: epochs, "):
        trainer.params["epochz"] = 3
    with pytest.raises(UserError, match=r"no node named 'Trainr' \(nodes: Wine, Split, MLP, Trainer"):
        wf["Trainr"]
    assert trainer.params["epochs"] == 3  # refused values change nothing
    del trainer.params["epochs"]
    assert trainer.params["epochs"] == 10  # back to the declared default
    assert len(str(caught.value).splitlines()) == 1
    wf.validate()  # what `nodeflow validate` checks, before any run
    wf["Wine"].params["path"] = "no_such.csv"  # well typed, but no such file: found by validate, not assignment
    with pytest.raises(UserError, match=r"node 'Wine' field 'path': file not found: .*no_such\.csv"):
        wf.validate()


def test_the_api_takes_what_set_takes_and_numpy_numbers() -> None:
    """A notebook's values: text as --set reads it, NumPy scalars from an array or a sweep's grid."""
    import numpy as np

    trainer = nodeflow.load(WINE)["Trainer"]
    trainer.params["epochs"] = "3"
    trainer.params["lr"] = "0.01"
    trainer.params["async_save"] = "false"
    assert (trainer.params["epochs"], trainer.params["lr"], trainer.params["async_save"]) == (3, 0.01, False)
    trainer.params["epochs"] = np.int64(4)
    trainer.params["lr"] = np.float32(0.5)
    trainer.params["batch_size"] = np.float64(16.0)
    assert (trainer.params["epochs"], trainer.params["lr"], trainer.params["batch_size"]) == (4, 0.5, 16)
    assert type(trainer.params["epochs"]) is int and type(trainer.params["lr"]) is float  # saved as plain JSON
    with pytest.raises(UserError, match=r"field .epochs.: expected an integer, got np.float64\(2.5\)"):
        trainer.params["epochs"] = np.float64(2.5)


def test_run_returns_each_nodes_outputs_with_a_progress_bar(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    wf = nodeflow.load(WINE)
    wf["Trainer"].params.update(checkpoint_dir="runs/nb", epochs=2, save_every_n_epochs=1)
    seen: list[str] = []
    result = wf.run(on_event=lambda e: seen.append(e["event"]))
    out, err = capsys.readouterr()
    assert "Epoch [2/2]" in out and "Run completed" in out  # the console lines `nodeflow run` prints
    assert "Epoch 1/2" in err and "batch" in err  # tqdm's bar, though stderr is not a terminal here
    model = result["Trainer"]["model"]
    assert isinstance(model, torch.nn.Module) and len(result["Trainer"]["history"]["epoch_losses"]) == 2
    assert 0.0 <= result.metrics["Evaluate"]["accuracy"] <= 1.0
    names = [p.name for p in result.checkpoints["Trainer"]]
    assert names == ["checkpoint_epoch_1.pt", "best_model.pt", "checkpoint_epoch_2.pt", "final_model.pt"] \
        or sorted(names) == sorted(["checkpoint_epoch_1.pt", "best_model.pt", "checkpoint_epoch_2.pt",
                                    "final_model.pt"])
    final = torch.load(tmp_path / "runs" / "nb" / "final_model.pt")
    assert final["epoch"] == 2
    assert all(torch.equal(v, final["model_state_dict"][k]) for k, v in model.state_dict().items())
    assert seen[0] == "run_start" and seen[-1] == "run_end" and "checkpoint_saved" in seen
    mine = [r for r in load_runs() if r["workflow"] == str(WINE)  # recorded for `nodeflow runs`, with its changes
            and (r.get("changed") or {}).get("Trainer.checkpoint_dir", [None])[-1] == "runs/nb"]
    assert [r["status"] for r in mine] == ["completed"] and mine[0]["changed"]["Trainer.epochs"][1] == 2


def test_a_notebook_cell_run_again_moves_its_own_earlier_run_aside(tmp_path: Path, monkeypatch, capsys) -> None:
    """A cell re-executed in the same Python process: its earlier run goes to previous/, nothing is lost;
    a folder holding another process's run still stops the run."""
    monkeypatch.chdir(tmp_path)
    wf = nodeflow.load(WINE)
    wf["Trainer"].params.update(checkpoint_dir="runs/a", epochs=1)
    wf.run(progress=False)
    first = json.loads((tmp_path / "runs" / "a" / "manifest.json").read_text())["run"]["id"]
    wf.run(progress=False)  # the same cell again
    assert json.loads((tmp_path / "runs" / "a" / "manifest.json").read_text())["run"]["id"] != first
    assert (tmp_path / "runs" / "a" / "previous" / first / "final_model.pt").is_file()
    assert f"runs/a/previous/{first}" in capsys.readouterr().out
    other = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", str(WINE), "--set", "Trainer.epochs=1",
                            "--set", "Trainer.checkpoint_dir=runs/b"], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert other.returncode == 0, other.stderr
    wf["Trainer"].params["checkpoint_dir"] = "runs/b"
    with pytest.raises(UserError, match="runs/b already holds run"):
        wf.run(progress=False)


def test_save_is_atomic_and_replaces_only_its_own_file(tmp_path: Path) -> None:
    wf = nodeflow.load(WINE)
    wf["Trainer"].params["epochs"] = 7
    mine = tmp_path / "wine_short.json"
    assert wf.save(mine) == mine
    assert nodeflow.load(mine)["Trainer"].params["epochs"] == 7
    wf["Trainer"].params["epochs"] = 8
    wf.save(mine)  # its own file now: replaced, as the editor's Save does
    assert json.loads(mine.read_text())["nodes"]["trainer"]["params"]["epochs"] == 8
    theirs = tmp_path / "notes.json"
    theirs.write_text("my notes\n")
    with pytest.raises(UserError, match=r"notes.json: exists and is not this workflow's file; not replaced"):
        wf.save(theirs)
    assert theirs.read_text() == "my notes\n"
    wf.save(theirs, overwrite=True)
    assert nodeflow.load(theirs)["Trainer"].params["epochs"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.json", "wine_short.json"]  # no temp files left


INTERRUPTED = """
import sys, torch, nodeflow
wf = nodeflow.load(sys.argv[1])
wf["Trainer"].params.update(checkpoint_dir="runs/a", epochs=100000, save_every_n_epochs=100000)
try:
    wf.run(progress=False)
except KeyboardInterrupt as exc:
    print("INTERRUPTED:", exc, flush=True)
    epoch = torch.load("runs/a/checkpoint_interrupted.pt")["epoch"]
    wf["Trainer"].params["epochs"] = epoch + 1
    result = wf.run(resume="auto", progress=False)
    print("RESUMED:", epoch, repr(wf["Trainer"].params["resume"]), flush=True)
"""


def test_ctrl_c_keeps_a_resumable_checkpoint_and_raises_keyboard_interrupt(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", INTERRUPTED, str(WINE)], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in child.stdout:
        lines.append(line)
        if line.startswith("Epoch [2/"):  # training is under way: press Ctrl-C
            child.send_signal(signal.SIGINT)
            break
    out, err = child.communicate(timeout=300)
    out = "".join(lines) + out
    assert child.returncode == 0, err
    assert "Stopping after the current batch (press Ctrl-C again to force)" in err
    assert "INTERRUPTED: run interrupted after the current batch; resumable checkpoint: " \
           "runs/a/checkpoint_interrupted.pt (continue with run(resume='auto'))" in out
    resumed = next(line for line in out.splitlines() if line.startswith("RESUMED:")).split()
    assert int(resumed[1]) >= 2  # stopped in or after the second epoch
    assert resumed[2] == "''"  # run(resume=...) is the run's own setting: the flow (and a later save) keeps none
    assert "↻ Resuming from" in out and f"Epoch [{int(resumed[1]) + 1}/{int(resumed[1]) + 1}]" in out
