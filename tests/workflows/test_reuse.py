"""`run --reuse` and `--until` on real example workflows, each run a real child process: only what
changed runs, an unchanged Trainer's model comes back from its verified final checkpoint."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.conftest import WORKFLOWS, events, run_cli

WINE = ["--set", "Trainer.epochs=2"]
GPT = [arg for setting in ("GPT.n_layer=1", "GPT.n_embd=32", "Trainer.max_iters=0", "Trainer.epochs=1",
                           "Trainer.batch_size=512", "Shakespeare.stride=0", "Generate.max_new_tokens=20")
       for arg in ("--set", setting)]


def run(folder: Path, name: str, *args: str) -> list[dict[str, Any]]:
    done = run_cli("run", name, "--events", "jsonl", *args, cwd=folder)
    assert done.returncode == 0, done.stderr
    return events(done.stdout)


def started(seen: list[dict[str, Any]]) -> list[str]:
    return [e["node"] for e in seen if e["event"] == "node_start"]


def of(seen: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {e["node"]: e for e in seen if e["event"] == kind}


def copy_example(folder: Path, name: str, data: str, chars: int = 0) -> str:
    """The example and its data file (its first `chars` characters where given) in `folder`."""
    shutil.copy(WORKFLOWS / name, folder / name)
    (folder / "data").mkdir()
    shutil.copy(WORKFLOWS / "data" / data, folder / "data" / data)
    if chars:
        text = (folder / "data" / data).read_text(encoding="utf-8")
        (folder / "data" / data).write_text(text[:chars], encoding="utf-8")
    return name


def test_wine_reuses_its_model_until_something_it_depends_on_changes(tmp_path: Path) -> None:
    wine = copy_example(tmp_path, "wine_mlp.json", "wine.csv")
    first = run(tmp_path, wine, *WINE, "--reuse")
    assert started(first) == ["Wine", "Split", "MLP", "Trainer", "Evaluate", "Predict"]

    unchanged = run(tmp_path, wine, *WINE, "--reuse")
    assert started(unchanged) == [] and "fit_start" not in {e["event"] for e in unchanged}
    assert set(of(unchanged, "node_reused")) == {"Wine", "Split", "MLP", "Trainer", "Evaluate", "Predict"}
    assert of(unchanged, "node_reused")["Trainer"]["from"].endswith("run_1/final_model.pt")
    assert of(unchanged, "metrics")["Evaluate"]["metrics"] == of(first, "metrics")["Evaluate"]["metrics"]

    trained = run(tmp_path, wine, *WINE)  # headless without --reuse: a run runs
    assert "Trainer" in started(trained) and of(trained, "fit_start")

    # an Evaluate param that changes no number (a batch size would: float sums in another order)
    model_reused = run(tmp_path, wine, *WINE, "--reuse", "--set", "Evaluate.num_workers=0")
    assert started(model_reused) == ["Wine", "Split", "MLP", "Evaluate"]
    assert of(model_reused, "node_reused")["Trainer"]["from"].endswith("run_2/final_model.pt")
    assert of(model_reused, "node_reused")["Trainer"]["needed_by"] == ["Evaluate"]
    assert of(model_reused, "metrics")["Evaluate"]["metrics"] == of(trained, "metrics")["Evaluate"]["metrics"]

    csv = tmp_path / "data" / "wine.csv"
    lines = csv.read_text().splitlines()
    lines[1] = ",".join(["9.99"] + lines[1].split(",")[1:])
    csv.write_text("\n".join(lines) + "\n")
    edited = run(tmp_path, wine, *WINE, "--reuse", "--set", "Evaluate.num_workers=0")
    assert started(edited) == ["Wine", "Split", "MLP", "Trainer", "Evaluate", "Predict"]
    assert of(edited, "node_rerun")["Wine"]["reason"] == "data/wine.csv changed on disk"

    final = tmp_path / "checkpoints" / "wine_mlp" / "run_3" / "final_model.pt"
    data = bytearray(final.read_bytes())
    data[len(data) // 2] ^= 0xFF
    final.write_bytes(bytes(data))
    corrupted = run(tmp_path, wine, *WINE, "--reuse", "--set", "Evaluate.num_workers=0")
    assert "Trainer" in started(corrupted) and of(corrupted, "fit_start")
    assert "SHA-256 does not match" in of(corrupted, "node_rerun")["Trainer"]["reason"]
    # (a deleted checkpoint: tests/core/test_cache.py; verify_file says "file is missing")


def test_a_new_generate_prompt_does_not_retrain(tmp_path: Path) -> None:
    gpt = copy_example(tmp_path, "shakespeare_gpt.json", "tinyshakespeare.txt", chars=100_000)
    trained = run(tmp_path, gpt, *GPT, "--reuse", "--until", "Trainer")
    assert trained[0]["nodes"] == ["Shakespeare", "GPT", "Trainer"] and of(trained, "fit_start")

    rest = run(tmp_path, gpt, *GPT, "--reuse")
    assert started(rest) == ["Shakespeare", "GPT", "Evaluate", "Generate"]
    assert of(rest, "node_reused")["Trainer"]["needed_by"] == ["Evaluate", "Generate"]

    prompted = run(tmp_path, gpt, *GPT, "--reuse", "--set", "Generate.prompt=JULIET:")
    assert "fit_start" not in {e["event"] for e in prompted}
    assert [n for n in started(prompted) if n not in ("Shakespeare", "GPT")] == ["Generate"]
    assert of(prompted, "node_rerun")["Generate"]["reason"] == "prompt changed"
    assert of(prompted, "log")["Generate"]["message"].startswith("Generated:\nJULIET:")
    assert of(prompted, "metrics")["Evaluate"] == {**of(rest, "metrics")["Evaluate"], "reused": True,
                                                  "time": of(prompted, "metrics")["Evaluate"]["time"]}


def test_until_names_a_node_and_reuse_refuses_several_processes(tmp_path: Path) -> None:
    wine = WORKFLOWS / "wine_mlp.json"
    unknown = run_cli("run", str(wine), "--until", "Nope", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [f"error: {wine}: field '--until': no node named 'Nope' "
                                                   "(nodes: Wine, Split, MLP, Trainer, Evaluate, Predict)"]
    several = run_cli("run", str(wine), "--reuse", "--nproc", "2", cwd=tmp_path)
    assert several.returncode == 2 and "field '--reuse'" in several.stderr and "Traceback" not in several.stderr
