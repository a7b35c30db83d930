"""Lazy data: peak memory of an epoch streamed from disk, and its speed against the in-memory path.

Writes N 64x64 RGB PNGs (10 classes) to a temporary folder, then in fresh child processes:
1. one epoch streamed by ImageFolder (lazy, DataLoader workers): peak RSS of the training
   process and of its largest worker, next to what the images take as float32 tensors;
2. images/s of one epoch, lazy with workers vs the same images decoded into memory first
   (ImageFolder cache=true, the loop's fast path); the ratio is lazy / in memory.
Same model (CNN, channels 32,64), batch 32, seed 0, CPU.

    python benchmarks/data_loading.py               # 20,000 images
    python benchmarks/data_loading.py --images 4000 # quicker
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE, BATCH = 64, 32


def write_images(folder: Path, count: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        label = i % 10
        (folder / f"class_{label}").mkdir(parents=True, exist_ok=True)
        blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        blocks[:, :, label % 3] = 255 - label * 20  # a class-dependent colour
        Image.fromarray(blocks).resize((SIZE, SIZE), Image.NEAREST).save(folder / f"class_{label}" / f"{i}.png")


def epoch(folder: str, cache: bool) -> dict[str, float]:
    """One training epoch in this process; what it cost."""
    import resource
    import time

    import torch

    sys.path.insert(0, str(ROOT))
    from nodeflow.training.loop import TrainConfig, TrainingLoop
    from nodes.image_data import IMAGE_FOLDER
    from nodes.models import CNN

    class Ctx:
        base_dir, node_name = Path(folder), "ImageFolder"

        def log(self, message: str) -> None:
            print(message, file=sys.stderr)

    ctx = Ctx()
    data = IMAGE_FOLDER.run(ctx, {}, IMAGE_FOLDER.defaults() | {"path": folder, "image_size": SIZE,
                                                                "cache": cache})["dataset"]
    model = CNN.run(ctx, {"dataset": data}, CNN.defaults())["model"]
    loop = TrainingLoop(model, data, None, TrainConfig(epochs=1, batch_size=BATCH, device="cpu"))
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    loop.fit()
    seconds = time.perf_counter() - started
    del loop
    return {"seconds": seconds, "images": len(data), "before_mb": before_mb,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "threads": torch.get_num_threads()}


def in_child(folder: Path, cache: bool) -> dict[str, float]:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.data_loading import epoch; "
            f"print(json.dumps(epoch({str(folder)!r}, {cache})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nodeflow-data-"))
    try:
        write_images(work / "images", args.images)
        tensors_mb = args.images * 3 * SIZE * SIZE * 4 / 2**20
        lazy = in_child(work / "images", cache=False)
        memory = in_child(work / "images", cache=True)
    finally:
        shutil.rmtree(work)
    print(f"{args.images:,} PNGs of {SIZE}x{SIZE} RGB; as float32 tensors they take {tensors_mb:,.0f} MB")
    print(f"lazy epoch (ImageFolder streaming, DataLoader workers): peak RSS {lazy['peak_rss_mb']:,.0f} MB "
          f"(largest worker {lazy['worker_peak_rss_mb']:,.0f} MB; {lazy['before_mb']:,.0f} MB before the epoch: "
          f"torch, the model, the file list)")
    print(f"in-memory epoch (cache=true):                           peak RSS {memory['peak_rss_mb']:,.0f} MB")
    lazy_speed, memory_speed = lazy["images"] / lazy["seconds"], memory["images"] / memory["seconds"]
    print(f"images/s: lazy {lazy_speed:,.0f}, in memory {memory_speed:,.0f}; lazy / in memory = "
          f"{lazy_speed / memory_speed:.2f}x")


if __name__ == "__main__":
    main()
