"""How long a checkpoint save blocks training: the Trainer's save path against plain writes of the same state.

For each size, alternating over repeats (median times):
- raw:        the serialized bytes written over the previous file + fsync, as a hand-written
              loop saving to one path does (truncating frees the old file's blocks first);
- raw fresh:  the same into a new file (the previous one is deleted outside the timing): the
              floor for a durable write;
- raw atomic: the same bytes written to a temp file + fsync, renamed over the previous file,
              folder fsync: the crash-safe protocol alone, without serializing or hashing;
- torch.save: torch.save into a file + fsync;
- ours sync:  CheckpointManager.save_file, the Trainer's save path (free-space check,
              torch.save into a temp file with the SHA-256 hashed as bytes pass, fsync, rename,
              folder fsync, manifest entry under the folder lock);
- ours, fsync only: the same without asking the kernel to start writing back every few MB
              (core.files.WRITEBACK = 0): what the streamed writeback buys;
- ours async: what the training thread waits for with async_save (the Trainer's default):
              a CPU snapshot of the state and the hand-off to the background writer. The write
              itself is waited for outside the timing, before the next repeat.
Prints each as a ratio against raw in the same run, ours sync against torch.save (the ratio of the
medians, then the quartiles of the ratio within each repeat: on a busy machine the spread says how far
to trust it), and async against ours sync.

    python benchmarks/checkpoint_save.py [--sizes 4 100 400] [--repeats 9] [--ways torch.save "ours sync"]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodeflow.checkpoints import CheckpointConfig, CheckpointManager
from nodeflow.core import files
from nodeflow.core.files import RELEASE, atomic_write
from nodeflow.checkpoints.background import BackgroundWriter


def state(megabytes: int) -> dict:
    torch.manual_seed(0)
    n = megabytes * (1 << 20) // 4 // 8
    return {"epoch": 1, "step": 1, "model_state_dict": {f"layer{i}.weight": torch.randn(n) for i in range(8)},
            "metrics": {}, "config": {}}


def write_fsync(path: Path, write) -> None:
    with path.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 100, 400], help="state sizes in MB")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--ways", nargs="+", help="only these rows (raw and the ratios' rows are always run)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {args.repeats} alternating repeats, median seconds; ratio against raw")
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        root = Path(tmp)
        manager = CheckpointManager(CheckpointConfig(checkpoint_dir=root / "ours", backup_checkpoints=False))
        writer = BackgroundWriter()

        def save_async(payload: dict) -> None:
            writer.save(payload, lambda frozen: manager.save_file("async.pt", frozen, "periodic") and [])

        def fsync_only(payload: dict) -> None:
            kept, files.WRITEBACK = files.WRITEBACK, 0
            try:
                manager.save_file("fsync_only.pt", payload, "periodic")
            finally:
                files.WRITEBACK = kept

        def ways_for(payload: dict, blob: bytes) -> dict[str, Callable[[], object]]:
            return {
                "raw": lambda: write_fsync(root / "raw.bin", lambda h: h.write(blob)),
                "raw fresh": lambda: write_fsync(root / "fresh.bin", lambda h: h.write(blob)),
                "raw atomic": lambda: atomic_write(root / "atomic.bin", lambda h: h.write(blob)),
                "torch.save": lambda: write_fsync(root / "plain.pt", lambda h: torch.save(payload, h)),
                "ours sync": lambda: manager.save_file("checkpoint.pt", payload, "periodic"),
                "ours, fsync only": lambda: fsync_only(payload),
                "ours async": lambda: save_async(payload),
            }

        for size in args.sizes:
            payload = state(size)
            buffer = io.BytesIO()
            torch.save(payload, buffer)
            ways = ways_for(payload, buffer.getvalue())
            if args.ways:
                ways = {name: way for name, way in ways.items()
                        if name in args.ways or name in ("raw", "torch.save", "ours sync")}
            times: dict[str, list[float]] = {name: [] for name in ways}
            step = torch.ones(1 << 22)
            for r in range(args.repeats):
                for name in ways if r % 2 == 0 else reversed(list(ways)):
                    step.mul_(1.0)  # in training a save follows a step: torch's threads are awake
                    start = time.perf_counter()
                    ways[name]()
                    times[name].append(time.perf_counter() - start)
                    writer.wait()  # the background write is not what training waits for
                    if name == "raw fresh":
                        (root / "fresh.bin").unlink()
                    for thread in threading.enumerate():  # nor freeing a replaced file's blocks
                        if thread.name == RELEASE:
                            thread.join()
            median = {name: statistics.median(t) for name, t in times.items()}
            paired = sorted(ours / plain for ours, plain in zip(times["ours sync"], times["torch.save"]))
            quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
            print(f"{size:>4} MB  " + "  ".join(f"{name} {median[name]:.3f}s ({median[name] / median['raw']:.2f}x)"
                                                for name in ways)
                  + f"  ours/torch.save {median['ours sync'] / median['torch.save']:.2f}x"
                  + f" (per-repeat quartiles {quartiles[0]:.2f}/{quartiles[1]:.2f}/{quartiles[2]:.2f})"
                  + (f"  async/sync {median['ours async'] / median['ours sync']:.2f}x" if "ours async" in ways else ""))


if __name__ == "__main__":
    main()
