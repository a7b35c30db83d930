"""Data-parallel training on CPU: samples/s of 1 process against 2 (gloo), and whether they agree.

Runs the digits CNN example headless (`main.py run ... --events jsonl`), without BatchNorm and
dropout (which see each rank's own batch and random stream), once in one process
and once with `--nproc 2`, alternating over repeats, in scratch folders. Samples/s is the
training set size over the epoch's training time (validation excluded), median over epochs
after the first. On a 2-core machine two processes share the cores, so expect well under 2×:
here the benchmark shows that DDP is correct (the per-epoch losses agree), not fast.

    python benchmarks/ddp.py [--epochs 4] [--repeats 2] [--batch-size 64]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(nproc: int, epochs: int, batch: int, cwd: Path) -> tuple[float, list[float]]:
    args = [sys.executable, str(ROOT / "main.py"), "run", str(ROOT / "workflows" / "digits_cnn.json"),
            "--events", "jsonl", "--set", f"Trainer.epochs={epochs}", "--set", f"Trainer.batch_size={batch}",
            "--set", "Trainer.checkpoint_dir=", "--set", "Trainer.device=cpu",
            # without BatchNorm (per-rank statistics) and dropout (per-rank masks) the two must agree
            "--set", "CNN.batch_norm=false", "--set", "CNN.dropout=0"]
    args += ["--nproc", str(nproc)] if nproc > 1 else []
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        sys.exit(f"run failed ({nproc} process(es)): {done.stderr.strip().splitlines()[-1:]}")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    size = next(e["train_size"] for e in events if e["event"] == "fit_start")
    epochs_done = [e for e in events if e["event"] == "epoch_end"]
    rates = [size / e["metrics"]["time"] for e in epochs_done[1:]]  # the first epoch warms up
    return statistics.median(rates), [e["metrics"]["train_loss"] for e in epochs_done]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    rates: dict[int, list[float]] = {1: [], 2: []}
    losses: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for nproc in (1, 2) if r % 2 == 0 else (2, 1):
                rate, losses[nproc] = run(nproc, args.epochs, args.batch_size, Path(tmp))
                rates[nproc].append(rate)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"{os.cpu_count()} cores, digits CNN (no BatchNorm, no dropout), global batch {args.batch_size}, "
          f"{args.epochs} epochs, {args.repeats} alternating repeats")
    print(f"1 process:   {one:8.0f} samples/s")
    print(f"2 processes: {two:8.0f} samples/s ({two / one:.2f}x)")
    diff = max(abs(a - b) for a, b in zip(losses[1], losses[2]))
    print(f"per-epoch train loss, largest difference 1 vs 2 processes: {diff:.2e}")


if __name__ == "__main__":
    main()
