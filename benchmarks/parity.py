"""Parity benchmark: NodeFlow's TrainingLoop against a hand-written PyTorch loop.

Same model, data, seed and batch order. Prints whether the final weights are bitwise
equal and the time ratio (NodeFlow / plain, median of alternating repeats).

    python benchmarks/parity.py [--epochs 4] [--repeats 15] [--batch 16 64]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodeflow.training.allocator import keep_freed_memory
from nodeflow.training.callbacks import ProgressEvents
from nodeflow.training.loop import TrainConfig, TrainingLoop
from nodeflow.training.rng import seed_everything
from nodes.datasets import DIGITS
from nodes.models import CNN

LR, SEED = 1e-3, 0


def data():
    class Ctx:
        base_dir = Path(".")

    return DIGITS.run(Ctx(), {}, DIGITS.defaults())["dataset"]


def new_model(bundle):
    return CNN.rebuild({"params": CNN.defaults(), "input_shape": bundle.input_shape,
                        "output_size": bundle.output_size})


def plain_loop(bundle, epochs: int, batch: int) -> torch.nn.Module:
    """What a person writes by hand: shuffle, slice, forward, backward, step."""
    model = new_model(bundle)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    seed_everything(SEED)
    generator = torch.Generator().manual_seed(SEED)
    x, y, n = bundle.x, bundle.y, len(bundle)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            index = order[start:start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
    return model


def nodeflow_loop(bundle, epochs: int, batch: int) -> torch.nn.Module:
    config = TrainConfig(epochs=epochs, batch_size=batch, lr=LR, seed=SEED, device="cpu")
    loop = TrainingLoop(new_model(bundle), bundle, None, config, [ProgressEvents(lambda *a, **k: None)])
    loop.fit()
    return loop.model


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def compare(bundle, epochs: int, batch: int, repeats: int) -> None:
    plain_loop(bundle, 1, batch), nodeflow_loop(bundle, 1, batch)  # warm up allocator and kernels
    ratios, plain_times, ours_times, equal = [], [], [], True
    for i in range(repeats):
        runs = [(plain_loop, plain_times), (nodeflow_loop, ours_times)]
        models = {}
        for fn, times in runs if i % 2 == 0 else runs[::-1]:  # alternate who goes first
            seconds, models[fn] = timed(fn, bundle, epochs, batch)
            times.append(seconds)
        ratios.append(ours_times[-1] / plain_times[-1])
        equal &= all(torch.equal(a, b) for a, b in zip(models[plain_loop].state_dict().values(),
                                                        models[nodeflow_loop].state_dict().values()))
    print(f"digits CNN, {len(bundle)} samples, {epochs} epochs, batch {batch}, "
          f"{torch.get_num_threads()} threads, {repeats} paired runs")
    print(f"plain loop   median {statistics.median(plain_times):.3f}s")
    print(f"TrainingLoop median {statistics.median(ours_times):.3f}s (with progress events)")
    q1, q3 = statistics.quantiles(ratios, n=4)[0], statistics.quantiles(ratios, n=4)[2]
    print(f"ratio (median of pairs) {statistics.median(ratios):.3f}  [IQR {q1:.3f}-{q3:.3f}]  "
          f"weights bitwise equal: {equal}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64])
    args = parser.parse_args()
    keep_freed_memory()  # as `nodeflow run` does at start (the library itself leaves the allocator alone)
    bundle = data()
    for batch in args.batch:
        compare(bundle, args.epochs, batch, args.repeats)


if __name__ == "__main__":
    main()
