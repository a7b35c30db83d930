"""Is the editor responsive while it trains? Event-loop latency during a run vs. idle, same process.

    python benchmarks/editor_latency.py [--example digits_cnn|shakespeare_gpt] [--epochs 8]
                                        [--max-iters 400] [--val-fraction 0.01] [--tab curves|console]

A 10 ms QTimer ticks in the editor's event loop; its lateness is measured first with the
editor idle (baseline), then while an example trains in the child process and its events
(train_step points for the Curves tab included) stream in. Prints median, 99th-percentile and
worst lateness, their ratios to the baseline, and the targets (p99 <= 50 ms, max <= 200 ms).
The GPT example runs `--max-iters` steps in one epoch (its file says 2000) with `--val-fraction`
of the text held out, so validation and Evaluate stay short; everything else is the file's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from editor_latency_driver import measure_run  # noqa: E402


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


def prepared(example: str, max_iters: int, val_fraction: float) -> Path:
    """The example in a temp folder: data paths made absolute, and for GPT the shorter run."""
    doc = json.loads((ROOT / "workflows" / f"{example}.json").read_text())
    for spec in doc["nodes"].values():
        params = spec.get("params", {})
        if isinstance(params.get("path"), str) and params["path"] and not Path(params["path"]).is_absolute():
            params["path"] = str(ROOT / "workflows" / params["path"])
        if "max_iters" in params and params["max_iters"]:
            params["max_iters"] = max_iters
        if "val_fraction" in params and spec["type"] == "data.text_file":
            params["val_fraction"] = val_fraction
    path = Path(tempfile.mkdtemp(prefix="nodeflow-latency-example-")) / f"{example}.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--example", choices=("digits_cnn", "shakespeare_gpt"), default="digits_cnn")
    parser.add_argument("--epochs", type=int, default=8, help="digits: epochs (GPT: one epoch of --max-iters)")
    parser.add_argument("--max-iters", type=int, default=400)
    parser.add_argument("--val-fraction", type=float, default=0.01)
    parser.add_argument("--tab", choices=("console", "curves"), default="curves", help="run-panel tab shown")
    args = parser.parse_args()
    gpt = args.example == "shakespeare_gpt"
    path = prepared(args.example, args.max_iters, args.val_fraction)
    idle, busy, events = measure_run(path, 1 if gpt else args.epochs, args.tab)
    print(f"{args.example}: events received during the run: {len(events)} ({events.count('epoch_end')} epochs, "
          f"{events.count('train_step')} train_step points), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"idle:    {len(idle):5d} ticks, median {statistics.median(idle):6.2f} ms late, p99 {p99(idle):6.2f} ms")
    print(f"running: {len(busy):5d} ticks, median {statistics.median(busy):6.2f} ms late, p99 {p99(busy):6.2f} ms, "
          f"max {max(busy):6.1f} ms")
    base_median, base_p99 = max(statistics.median(idle), 0.01), max(p99(idle), 0.01)
    print(f"ratio running/idle: median {statistics.median(busy) / base_median:.2f}x, p99 {p99(busy) / base_p99:.2f}x")
    print(f"targets: p99 {p99(busy):.1f} <= 50 ms {'yes' if p99(busy) <= 50 else 'NO'}, "
          f"max {max(busy):.1f} <= 200 ms {'yes' if max(busy) <= 200 else 'NO'}")


if __name__ == "__main__":
    main()
