"""How good is the dry run's ETA? The estimate of `run --dry-run` against the same run's real
training time (fit_start to fit_end, checkpoints off), in one script.

    python benchmarks/dry_run_eta.py [--workflow workflows/digits_cnn.json] [--repeats 3]
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

ROOT = Path(__file__).resolve().parents[1]


def events(*args: str) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NODEFLOW_HOME": tempfile.mkdtemp()}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", *args, "--events", "jsonl",
                           "--set", "Trainer.checkpoint_dir="], cwd=tempfile.mkdtemp(), env=env,
                          capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflow", default=str(ROOT / "workflows" / "digits_cnn.json"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ratios = []
    for _ in range(args.repeats):
        estimate = next(e for e in events(args.workflow, "--dry-run") if e["event"] == "dry_run")["run_seconds"]
        real = events(args.workflow)
        start = next(e["time"] for e in real if e["event"] == "fit_start")
        seconds = next(e["time"] for e in real if e["event"] == "fit_end") - start
        ratios.append(estimate / seconds)
        print(f"estimated {estimate:6.2f} s   trained {seconds:6.2f} s   estimate/real {ratios[-1]:.2f}", flush=True)
    print(f"median estimate/real: {statistics.median(ratios):.2f} ({Path(args.workflow).name}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
