"""GPT training step: NodeFlow's TrainingLoop against a hand-written nanoGPT-style loop.

Same model (the GPT node at the Shakespeare configuration: 4 layers, 4 heads, 128 wide,
block 64), same data (Tiny Shakespeare, a block at every position), batch 12, AdamW with
weight decay 0.1 off norms and biases, gradient clipping at 1.0, warmup + cosine lr, the
same seeded order. Prints tokens per second of each, the time ratio (NodeFlow / plain,
median of alternating pairs) and whether the final weights are bitwise equal.

    python benchmarks/gpt_step.py [--iters 200] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from nodeflow.training.callbacks import ProgressEvents
from nodeflow.training.factory import make_optimizer, make_scheduler
from nodeflow.training.loop import TrainConfig, TrainingLoop
from nodeflow.training.rng import seed_everything
from nodes.gpt import GPT_NODE as GPT
from nodes.text_data import TEXT_FILE

ROOT = Path(__file__).resolve().parent.parent
BATCH, SEED, LR, MIN_LR, WARMUP = 12, 1337, 1e-3, 1e-4, 20


def data():
    class Ctx:
        base_dir, node_name = ROOT / "workflows", "Shakespeare"

        def log(self, message: str) -> None: ...

    params = TEXT_FILE.defaults() | {"path": "data/tinyshakespeare.txt", "block_size": 64, "stride": 1}
    return TEXT_FILE.run(Ctx(), {}, params)["train"]


def new_model(train):
    return GPT.rebuild({"params": GPT.defaults() | {"seed": SEED}, "input_shape": train.input_shape,
                        "output_size": train.output_size})


def plain_loop(train, iters: int) -> torch.nn.Module:
    """What nanoGPT's train.py does per step, written out by hand."""
    model = new_model(train)
    optimizer = make_optimizer("adamw", model.parameters(), LR, 0.1, 0.0)
    schedule = make_scheduler("warmup_cosine", optimizer, 1, 1, 0.1, iters, WARMUP, MIN_LR)
    seed_everything(SEED)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(SEED))
    model.train()
    for step in range(iters):
        index = order[step * BATCH:(step + 1) * BATCH]
        x, y = train.x[index], train.y[index]
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    return model


def nodeflow_loop(train, iters: int) -> torch.nn.Module:
    config = TrainConfig(epochs=1, max_iters=iters, batch_size=BATCH, optimizer="adamw", lr=LR, weight_decay=0.1,
                         grad_clip=1.0, scheduler="warmup_cosine", warmup_iters=WARMUP, min_lr=MIN_LR, seed=SEED,
                         device="cpu", generation_samples=0)  # the step only: no sampling after the epoch
    loop = TrainingLoop(new_model(train), train, None, config, [ProgressEvents(lambda *a, **k: None)])
    loop.fit()
    return loop.model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    train = data()
    plain_loop(train, 10), nodeflow_loop(train, 10)  # warm up
    ratios, plain_times, ours_times, equal = [], [], [], True
    for i in range(args.repeats):
        runs = [(plain_loop, plain_times), (nodeflow_loop, ours_times)]
        models = {}
        for fn, times in runs if i % 2 == 0 else runs[::-1]:  # alternate who goes first
            started = time.perf_counter()
            models[fn] = fn(train, args.iters)
            times.append(time.perf_counter() - started)
        ratios.append(ours_times[-1] / plain_times[-1])
        equal &= all(torch.equal(a, b) for a, b in zip(models[plain_loop].state_dict().values(),
                                                        models[nodeflow_loop].state_dict().values()))
    tokens = args.iters * BATCH * train.input_shape[0]
    print(f"GPT 4x4x128, block {train.input_shape[0]}, batch {BATCH}, {args.iters} iterations, "
          f"{torch.get_num_threads()} threads, {args.repeats} paired runs")
    print(f"plain loop   {tokens / statistics.median(plain_times):,.0f} tokens/s")
    print(f"TrainingLoop {tokens / statistics.median(ours_times):,.0f} tokens/s (with progress events)")
    print(f"ratio (median of pairs) {statistics.median(ratios):.3f}  [range {min(ratios):.3f}-{max(ratios):.3f}]  "
          f"weights bitwise equal: {equal}")


if __name__ == "__main__":
    main()
