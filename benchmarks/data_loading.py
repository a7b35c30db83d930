"""Lazy data: peak memory of a whole streamed run, and the speed of streaming against in memory.

Writes N 64x64 RGB PNGs (10 classes) to a temporary folder, then:
1. the whole run as a user starts it (`main.py run`, the shapes_resnet example pointed at
   those PNGs: ImageFolder streaming with DataLoader workers -> Split 80/10/10 -> ResNet
   16,32,64 -> Trainer, 1 epoch, batch 32, CPU, checkpoints on -> Evaluate on the test
   part), its RSS sampled every 50 ms from start to exit, peak per phase: start (imports,
   data and model nodes), the Trainer's setup, the training batches, the end-of-epoch validation, the checkpoint
   saves, Evaluate. The target is under 700 MB for the training process in every phase;
2. with --speed: images/s of one epoch, lazy with workers vs the same images decoded into
   memory first (ImageFolder cache=true, the loop's fast path); the ratio is lazy / in memory.

    python benchmarks/data_loading.py                 # 12,000 images
    python benchmarks/data_loading.py --images 2000   # quicker
    python benchmarks/data_loading.py --root OTHER_CHECKOUT --evaluate-batch 1024  # an older NodeFlow
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE, BATCH = 64, 32
TARGET_MB = 700
PHASES = ("start", "setup", "training", "validation", "saving", "evaluate")


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


def tree(pid: int) -> list[int]:
    """`pid` and every process below it (DataLoader workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def phase_after(event: dict, phase: str) -> str:
    """The phase a run is in after `event` (the --events jsonl stream)."""
    kind = event.get("event")
    if kind == "node_start":
        return {"train.trainer": "setup", "eval.evaluate": "evaluate"}.get(event.get("type"), phase)
    if kind == "batch_progress":
        return "validation" if event["batch"] == event["batches"] else "training"
    if kind == "epoch_end":
        return "saving"
    return phase


def whole_run(root: Path, images: Path, work: Path, evaluate_batch: int) -> dict:
    """`main.py run` on the streamed images; peak RSS per phase, sampled every 50 ms."""
    sets = {"Shapes.path": images, "Shapes.image_size": SIZE, "Shapes.cache": "false",
            "Split.val_fraction": 0.1, "Split.test_fraction": 0.1, "ResNet.widths": "16,32,64",
            "Trainer.epochs": 1, "Trainer.batch_size": BATCH, "Trainer.device": "cpu",
            "Trainer.checkpoint_dir": work / "ck", "Trainer.layout": "nodeflow",
            "Evaluate.batch_size": evaluate_batch}
    args = [a for key, value in sets.items() for a in ("--set", f"{key}={value}")]
    example = root / "workflows" / "shapes_resnet.json"
    child = subprocess.Popen([sys.executable, str(root / "main.py"), "run", str(example), "--events", "jsonl", *args],
                             cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(root), "NODEFLOW_HOME": str(work)})
    state = {"phase": "start"}  # imports, the data nodes, the model
    peaks = {phase: {"main": 0.0, "worker": 0.0} for phase in PHASES}

    def read_events() -> None:
        for line in child.stdout:
            if line.startswith("{"):
                event = json.loads(line)
                state["phase"] = phase_after(event, state["phase"])

    reader = threading.Thread(target=read_events, daemon=True)
    reader.start()
    samples = 0
    while child.poll() is None:
        pids = tree(child.pid)
        peak = peaks[state["phase"]]
        peak["main"] = max(peak["main"], rss_mb(child.pid))
        peak["worker"] = max([peak["worker"]] + [rss_mb(p) for p in pids[1:]])
        samples += 1
        time.sleep(0.05)
    reader.join()
    if child.returncode:
        raise SystemExit(child.stderr.read())
    return {"peaks": peaks, "samples": samples}


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
    parser.add_argument("--images", type=int, default=12_000)
    parser.add_argument("--root", type=Path, default=ROOT, help="the NodeFlow checkout whose main.py runs")
    parser.add_argument("--evaluate-batch", type=int, default=0, help="Evaluate's batch_size (0: the Trainer's)")
    parser.add_argument("--speed", action="store_true", help="also: images/s lazy vs in memory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nodeflow-data-"))
    try:
        write_images(work / "images", args.images)
        tensors_mb = args.images * 3 * SIZE * SIZE * 4 / 2**20
        run = whole_run(args.root.resolve(), work / "images", work, args.evaluate_batch)
        if args.speed:
            lazy = in_child(work / "images", cache=False)
            memory = in_child(work / "images", cache=True)
    finally:
        shutil.rmtree(work)
    print(f"{args.images:,} PNGs of {SIZE}x{SIZE} RGB; as float32 tensors they take {tensors_mb:,.0f} MB")
    print(f"whole run (main.py run, {run['samples']:,} samples of RSS every 50 ms), peak RSS by phase:")
    for phase, peak in run["peaks"].items():
        if peak["main"]:
            print(f"  {phase:<11} training process {peak['main']:6,.0f} MB, largest worker {peak['worker']:5,.0f} MB")
    top = max(peak["main"] for peak in run["peaks"].values())
    verdict = "met" if top < TARGET_MB else "MISSED"
    print(f"peak of the whole run: {top:,.0f} MB; target under {TARGET_MB} MB: {verdict}")
    if args.speed:
        print(f"in-memory epoch (cache=true): peak RSS {memory['peak_rss_mb']:,.0f} MB")
        lazy_speed, memory_speed = lazy["images"] / lazy["seconds"], memory["images"] / memory["seconds"]
        print(f"images/s: lazy {lazy_speed:,.0f}, in memory {memory_speed:,.0f}; lazy / in memory = "
              f"{lazy_speed / memory_speed:.2f}x")


if __name__ == "__main__":
    main()
