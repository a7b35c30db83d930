"""Bad input: one line per problem, exit 2, no traceback, nothing written, old checkpoints intact."""
from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path

import pytest
import torch

from tests.conftest import WORKFLOWS, bare_env, events, run_cli, start_cli

DIGITS = str(WORKFLOWS / "digits_cnn.json")


def write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return name


def mutate(tmp: Path, name: str, change) -> str:
    doc = json.loads((WORKFLOWS / "digits_cnn.json").read_text())
    change(doc)
    return write(tmp, name, json.dumps(doc))


def cycle(doc: dict) -> None:
    doc["links"][0] = {"from": {"node": "split", "port": "train"}, "to": {"node": "split", "port": "dataset"}}


CASES = {
    "missing file": (lambda t: "nope.json", [], "nope.json: file not found"),
    "malformed json": (lambda t: write(t, "bad.json", '{"format": "nodeflow.workflow",'), [], "not valid JSON"),
    "unknown node type": (lambda t: mutate(t, "u.json", lambda d: d["nodes"]["cnn"].update(type="model.gpt5")),
                          [], "node 'CNN' field 'type': unknown node type 'model.gpt5'"),
    "cycle": (lambda t: mutate(t, "c.json", cycle), [], "node 'Split' field 'links': part of a cycle: Split -> Split"),
    "missing link": (lambda t: mutate(t, "m.json", lambda d: d["links"].pop(0)), [],
                     "node 'Split' field 'dataset': required input 'dataset' (dataset) is not connected"),
    "save_every_n_epochs=0": (lambda t: DIGITS, ["--set", "Trainer.save_every_n_epochs=0"],
                              "field 'save_every_n_epochs': --set: must be at least 1 (got 0)"),
    "text for a number in --set": (lambda t: DIGITS, ["--set", "Trainer.epochs=ten"],
                                   "field 'epochs': --set: expected an integer, got 'ten'"),
    "text for a number in the file": (
        lambda t: mutate(t, "n.json", lambda d: d["nodes"]["trainer"]["params"].update(lr="fast")), [],
        "node 'Trainer' field 'lr': expected a number, got 'fast'"),
    "unknown node in --set": (lambda t: DIGITS, ["--set", "Trainer2.epochs=1"], "no node named 'Trainer2'"),
    "unknown param in --set": (lambda t: DIGITS, ["--set", "Trainer.epoch=1"], "field 'epoch': --set: unknown param"),
    "checkpoint_dir is a file": (lambda t: write(t, "afile", "x") and DIGITS,
                                 ["--set", "Trainer.checkpoint_dir=afile"], "afile exists and is not a folder"),
    "checkpoint_dir cannot be created": (lambda t: write(t, "afile", "x") and DIGITS,
                                         ["--set", "Trainer.checkpoint_dir=afile/ck"], "afile is not a folder"),
    "cuda without a gpu": (lambda t: DIGITS, ["--set", "Trainer.device=cuda:7"], "field 'device'"),
    "evaluating an empty split": (lambda t: DIGITS, ["--set", "Split.test_fraction=0"],
                                  "node 'Evaluate' field 'dataset': connected to 'Split.test', which its params "
                                  "leave empty"),
    "val monitor on an empty split": (lambda t: DIGITS, ["--set", "Split.val_fraction=0", "--set",
                                                         "Trainer.monitor=val_loss"],
                                      "field 'monitor': 'val_loss' needs the 'val' input connected"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case: str, tmp_path: Path) -> None:
    make, extra, expected = CASES[case]
    workflow = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("run", workflow, *extra, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert all(line.startswith("error: ") for line in result.stderr.splitlines())
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_invalid_rerun_leaves_earlier_checkpoints_untouched(tmp_path: Path) -> None:
    assert run_cli("run", DIGITS, "--set", "Trainer.epochs=2", "--set", "Trainer.checkpoint_dir=ck",
                   cwd=tmp_path).returncode == 0
    def digests() -> dict[str, str]:
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "ck").rglob("*")
                if p.is_file()}

    before = digests()
    result = run_cli("run", DIGITS, "--set", "Trainer.checkpoint_dir=ck", "--set", "Trainer.batch_size=0",
                     cwd=tmp_path)
    assert result.returncode == 2
    assert digests() == before


def test_bad_data_found_at_run_time_names_node_and_field(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wine.csv").write_text("alcohol,cultivar\n1.0,a\n2.0,b\nabc,a\n")
    doc = json.loads((WORKFLOWS / "wine_mlp.json").read_text())
    (tmp_path / "w.json").write_text(json.dumps(doc))
    result = run_cli("run", "w.json", "--events", "jsonl", cwd=tmp_path)
    assert result.returncode == 2
    assert "node 'Wine' field 'path': wine.csv line 4, column 'alcohol': not a number" in result.stderr
    errors = [e for e in events(result.stdout) if e["event"] == "error"]
    assert errors[0]["node"] == "Wine"
    assert events(result.stdout)[-1] == {**events(result.stdout)[-1], "event": "run_end", "status": "failed"}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_finishes_the_batch_saves_a_checkpoint_and_exits_130(tmp_path: Path, sig: int) -> None:
    proc = start_cli("run", DIGITS, "--events", "jsonl", "--set", "Trainer.epochs=500",
                     "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path, env=bare_env())
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if '"event": "epoch_end"' in line:
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    seen = events("".join(lines) + out)
    assert seen[-1]["event"] == "run_end" and seen[-1]["status"] == "interrupted"
    interrupt = [e for e in seen if e["event"] == "checkpoint_saved" and e["kind"] == "interrupt"]
    assert interrupt and Path(tmp_path / interrupt[0]["path"]).is_file()
    ckpt = torch.load(tmp_path / "ck" / "checkpoint_interrupted.pt")
    assert 1 <= ckpt["epoch"] < 500 and len(ckpt["epoch_losses"]) == ckpt["epoch"]
    assert "Traceback" not in err
