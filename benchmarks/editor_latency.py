"""Is the editor responsive while it trains? Event-loop latency during a run vs. idle, same process.

    python benchmarks/editor_latency.py [--epochs 8] [--tab curves|console]

A 10 ms QTimer ticks in the editor's event loop; its lateness is measured first with the
editor idle (baseline), then while the digits example trains in the child process and its
events stream in. Prints median and 99th-percentile lateness and their ratios to the baseline.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nodeflow.gui.latency import measure_run  # noqa: E402


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--tab", choices=("console", "curves"), default="curves", help="run-panel tab shown")
    args = parser.parse_args()
    idle, busy, events = measure_run(ROOT / "workflows" / "digits_cnn.json", args.epochs, args.tab)
    print(f"events received during the run: {len(events)} ({events.count('epoch_end')} epochs)")
    print(f"idle:    {len(idle):5d} ticks, median {statistics.median(idle):6.2f} ms late, p99 {p99(idle):6.2f} ms")
    print(f"running: {len(busy):5d} ticks, median {statistics.median(busy):6.2f} ms late, p99 {p99(busy):6.2f} ms, "
          f"max {max(busy):6.1f} ms")
    base_median, base_p99 = max(statistics.median(idle), 0.01), max(p99(idle), 0.01)
    print(f"ratio running/idle: median {statistics.median(busy) / base_median:.2f}x, p99 {p99(busy) / base_p99:.2f}x")


if __name__ == "__main__":
    main()
