"""The GPT node: causal, trains on Tiny Shakespeare through the Trainer, rebuilt from its checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from nodeflow import restore_model
from nodeflow.training.factory import make_optimizer, make_scheduler
from nodeflow.training.loop import TrainConfig, TrainingLoop
from nodes.gpt import GPT_NODE as GPT
from nodes.text_data import TEXT_FILE
from tests.conftest import WORKFLOWS, events, run_cli
from tests.nodes.test_datasets import run

TINY = ["--set", "GPT.n_layer=1", "--set", "GPT.n_embd=32", "--set", "GPT.n_head=2",
        "--set", "Trainer.checkpoint_dir=ck", "--set", "Trainer.batch_size=32"]


def shakespeare(block: int = 32) -> dict:
    return run(TEXT_FILE, WORKFLOWS, path="data/tinyshakespeare.txt", block_size=block)


def test_a_token_never_sees_the_tokens_after_it() -> None:
    data = shakespeare()["train"]
    model = run(GPT, WORKFLOWS, {"dataset": data}, n_layer=2, n_embd=32, n_head=4)["model"].eval()
    ids = data.x[:2].clone()
    before = model(ids)
    ids[:, 20:] = (ids[:, 20:] + 1) % data.output_size
    after = model(ids)
    assert torch.equal(before[:, :20], after[:, :20])
    assert not torch.allclose(before[:, 20:], after[:, 20:])


def test_max_iters_and_warmup_cosine_follow_nanogpt() -> None:
    parts = shakespeare()
    model = run(GPT, WORKFLOWS, {"dataset": parts["train"]}, n_layer=1, n_embd=32, n_head=2)["model"]
    config = TrainConfig(epochs=1, max_iters=25, batch_size=16, optimizer="adamw", lr=1e-3, weight_decay=0.1,
                         scheduler="warmup_cosine", warmup_iters=5, min_lr=1e-4, grad_clip=1.0, device="cpu")
    loop = TrainingLoop(model, parts["train"], parts["val"], config)
    state = loop.fit()
    assert state.step == 25 and state.epoch == 1  # an iteration budget, not a whole epoch
    assert loop.optimizer.param_groups[0]["lr"] == 1e-4  # decayed to min_lr at the last step
    decays = {len(g["params"]): g["weight_decay"] for g in loop.optimizer.param_groups}
    assert sorted(decays.values()) == [0.0, 0.1]  # norms and biases are not decayed


def test_warmup_rises_linearly_then_decays() -> None:
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    optimizer = make_optimizer("adamw", [weight], 1.0, 0.0, 0.0)
    schedule = make_scheduler("warmup_cosine", optimizer, 1, 1, 0.1, steps=10, warmup=4, min_lr=0.1)
    lrs = []
    for _ in range(12):
        lrs.append(round(optimizer.param_groups[0]["lr"], 6))
        optimizer.step()
        schedule.step()
    assert lrs[:4] == [0.2, 0.4, 0.6, 0.8] and lrs[4] == 1.0
    assert all(a > b for a, b in zip(lrs[4:10], lrs[5:10])) and lrs[10:] == [0.1, 0.1]


def test_shakespeare_example_trains_and_restores_from_its_checkpoint(tmp_path: Path) -> None:
    result = run_cli("run", str(WORKFLOWS / "shakespeare_gpt.json"), *TINY, "--set", "Trainer.max_iters=60",
                     "--set", "Trainer.warmup_iters=5", "--events", "jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = events(result.stdout)
    metrics = seen[-1]["metrics"]["Evaluate"]
    assert metrics["perplexity"] < 40  # 65 characters: guessing uniformly gives 65
    model, checkpoint = restore_model(tmp_path / "ck" / "final_model.pt")
    assert checkpoint["config"]["data"]["tokenizer"] and checkpoint["step"] == 60
    assert type(model).__name__ == "GPT" and model.block_size == 64

    generate = ["generate", "ck/final_model.pt", "--prompt", "ROMEO:", "--max-new-tokens", "50", "--seed", "3"]
    first, again = run_cli(*generate, cwd=tmp_path), run_cli(*generate, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    text = first.stdout.rstrip("\n")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 50  # decoded with the stored tokenizer
    assert again.stdout == first.stdout  # the same seed, the same text
    unknown = run_cli("generate", "ck/final_model.pt", "--prompt", "naïve €", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "error: field '--prompt': the prompt has characters the model never saw in training: 'ï€'"]


def test_heads_that_do_not_divide_the_width_are_refused_before_training(tmp_path: Path) -> None:
    doc = json.loads((WORKFLOWS / "shakespeare_gpt.json").read_text())
    doc["nodes"]["gpt"]["params"]["n_head"] = 3
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    (tmp_path / "data").symlink_to(WORKFLOWS / "data")
    result = run_cli("run", "bad.json", cwd=tmp_path)
    assert result.returncode == 2
    assert "node 'GPT' field 'n_embd': n_embd 128 is not divisible by n_head 3" in result.stderr
    assert not (tmp_path / "checkpoints").exists()
