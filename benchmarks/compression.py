"""Compressed checkpoints: size ratio and save/load time against uncompressed, on real trained models.

Trains two models on scikit-learn's digits (the digits CNN of the bundled example, and a
wide MLP with ~8 M weights), then saves each model+Adam checkpoint through
CheckpointManager.save_file (the Trainer's save path: durable write, SHA-256, manifest)
with compression none, gzip and zstd, alternating, and loads it back with
load_checkpoint (verification included). Prints the median times as ratios against the
uncompressed save/load in the same run.

    python benchmarks/compression.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodeflow.checkpoints import CheckpointConfig, CheckpointManager
from nodeflow.checkpoints.torch_files import load_checkpoint
from nodes.datasets import DIGITS
from nodes.models import CNN

METHODS = ("none", "gzip", "zstd")


def digits():
    class Ctx:
        base_dir = Path(".")

    return DIGITS.run(Ctx(), {}, DIGITS.defaults())["dataset"]


def trained(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> dict:
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for i in range(0, len(x), 64):
            loss = F.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return {"epoch": epochs, "step": epochs * ((len(x) + 63) // 64), "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(), "loss": loss.item(), "metrics": {}, "config": {}}


def measure(payload: dict, repeats: int, root: Path) -> dict[str, dict[str, float]]:
    times: dict[str, dict[str, list[float]]] = {m: {"save": [], "load": []} for m in METHODS}
    sizes: dict[str, int] = {}
    for r in range(repeats):
        for method in METHODS if r % 2 == 0 else reversed(METHODS):
            manager = CheckpointManager(CheckpointConfig(checkpoint_dir=root / f"{method}_{r}", compression=method,
                                                         backup_checkpoints=False))
            start = time.perf_counter()
            path = manager.save_file("final_model.pt", payload, "final")
            times[method]["save"].append(time.perf_counter() - start)
            start = time.perf_counter()
            load_checkpoint(path)
            times[method]["load"].append(time.perf_counter() - start)
            sizes[method] = path.stat().st_size
    return {m: {"size": sizes[m], **{k: statistics.median(v) for k, v in times[m].items()}} for m in METHODS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    bundle = digits()
    x, y = bundle.x, bundle.y
    cnn = CNN.rebuild({"params": CNN.defaults(), "input_shape": bundle.input_shape, "output_size": 10})
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2048), torch.nn.ReLU(),
                              torch.nn.Linear(2048, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 10))
    print(f"torch {torch.__version__}, {args.repeats} alternating repeats, median times; "
          "save = durable write + SHA-256 + manifest entry, load = verify + decompress + torch.load")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, epochs in (("digits CNN, 3 epochs", cnn, 3), ("MLP 64-2048-2048-10, 1 epoch", mlp, 1)):
            results = measure(trained(model, x, y, epochs), args.repeats, Path(tmp) / name.split()[0])
            base = results["none"]
            print(f"\n{name}: uncompressed {base['size'] / 2**20:.2f} MiB, save {base['save'] * 1000:.1f} ms, "
                  f"load {base['load'] * 1000:.1f} ms")
            for method in METHODS[1:]:
                r = results[method]
                print(f"  {method:5} size {r['size'] / base['size']:.3f}x ({r['size'] / 2**20:.2f} MiB)  "
                      f"save {r['save'] / base['save']:.2f}x  load {r['load'] / base['load']:.2f}x")


if __name__ == "__main__":
    main()
