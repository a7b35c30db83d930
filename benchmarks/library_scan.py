"""How long the Library takes to list 1,000 checkpoint files (the issue asks for under 2 s).

Builds a root with 1,000 files: 200 saved by CheckpointManager (manifest, SHA-256 checked),
500 bare state_dicts and 300 other trainers' dicts (pickle read without unpickling). Times
`nodeflow ckpt scan ROOT --json` as the editor runs it (a child process, startup included),
against two baselines in the same script: a child that only walks the tree and reads every
byte, and torch.load(weights_only=True) of every file (what a scanner that loads would pay).

    python benchmarks/library_scan.py [--files 1000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nodeflow.checkpoints import CheckpointConfig, CheckpointManager  # noqa: E402

READ_ALL = ("import os, sys\nfor d, _, fs in os.walk(sys.argv[1]):\n"
            "    for f in fs: open(os.path.join(d, f), 'rb').read()")


def build(root: Path, files: int) -> None:
    net = torch.nn.Sequential(torch.nn.Linear(13, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    managed = files // 5
    config = CheckpointConfig(checkpoint_dir=root, save_interval=1, max_checkpoints=0)
    manager = CheckpointManager(config, "managed_run")
    for epoch in range(1, managed + 1):
        manager.save_checkpoint(net, epoch=epoch, step=epoch * 10, metrics={"val_loss": 1.0 / epoch})
    bare = root / "bare"
    bare.mkdir()
    for i in range(files // 2):
        torch.save(net.state_dict(), bare / f"model_v{i}.pth")
    other = root / "experiments"
    other.mkdir()
    for i in range(files - managed - files // 2):
        torch.save({"model_state_dict": net.state_dict(), "epoch": i, "best_acc": 0.5}, other / f"ckpt_{i}.pth")


def child(args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.files)
        listed = subprocess.run([sys.executable, str(ROOT / "main.py"), "ckpt", "scan", str(root), "--json"],
                                check=True, capture_output=True, text=True).stdout
        count = len(listed.splitlines()) - 1  # one line per file, then the folders
        scan = min(child([str(ROOT / "main.py"), "ckpt", "scan", str(root), "--json"]) for _ in range(args.repeat))
        read = min(child(["-c", READ_ALL, str(root)]) for _ in range(args.repeat))
        start = time.perf_counter()
        for path in root.rglob("*.pt*"):
            torch.load(path, weights_only=True)
        load = time.perf_counter() - start
    print(f"{count} files, {os.cpu_count()} CPUs, torch {torch.__version__}")
    print(f"ckpt scan (child process, as the editor runs it): {scan:.2f} s  (target: under 2 s)")
    print(f"baseline: walk + read every byte (child process):  {read:.2f} s  -> scan/read = {scan / read:.1f}x")
    print(f"baseline: torch.load every file (in process):      {load:.2f} s  -> scan/load = {scan / load:.2f}x")


if __name__ == "__main__":
    main()
