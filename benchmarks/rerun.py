"""What reuse saves: a first Run of a GPT workflow against a second Run after changing only the
Generate prompt (`run --reuse`, as the editor runs), both measured in this script.

Each Run is a fresh child process, as the editor starts one per Run: "wall" is what the user
waits for (start-up included), "in run" the run's own time (run_start to run_end).

    python benchmarks/rerun.py [--workflow workflows/shakespeare_gpt.json] [--set NODE.PARAM=VALUE ...]
                               [--repeats 1]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The example's model at 300 of its 2,000 iterations, one block every 64 characters (not at every one):
# its full size takes many minutes on a small CPU, most of them validating a million overlapping blocks.
DEFAULTS = ["Trainer.max_iters=300", "Shakespeare.stride=0"]


def timed_run(folder: Path, workflow: str, settings: list[str]) -> tuple[float, float, list[dict]]:
    """(wall seconds, in-run seconds, events) of one `run --reuse` in `folder`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NODEFLOW_HOME": str(folder / "home")}
    args = [arg for setting in settings for arg in ("--set", setting)]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", workflow, "--reuse", "--events", "jsonl",
                           *args], cwd=folder, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    seen = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return wall, seen[-1]["seconds"], seen


def one_pair(workflow: Path, settings: list[str]) -> tuple[float, float, float, float]:
    folder = Path(tempfile.mkdtemp(prefix="nodeflow-rerun-"))
    try:
        shutil.copy(workflow, folder / workflow.name)
        shutil.copytree(workflow.parent / "data", folder / "data")
        wall1, run1, first = timed_run(folder, workflow.name, settings)
        wall2, run2, second = timed_run(folder, workflow.name, settings + ["Generate.prompt=JULIET:"])
        assert any(e["event"] == "fit_start" for e in first), "the first Run did not train"
        assert not any(e["event"] == "fit_start" for e in second), "the second Run trained again"
        reused = [e["node"] for e in second if e["event"] == "node_reused"]
        ran = [f"{e['node']} {e['seconds']:.1f} s" for e in second if e["event"] == "node_end"]
        print(f"  second Run: reused {', '.join(reused)}; ran {', '.join(ran)}", flush=True)
        return wall1, run1, wall2, run2
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflow", default=str(ROOT / "workflows" / "shakespeare_gpt.json"))
    parser.add_argument("--set", dest="settings", action="append", default=None, metavar="NODE.PARAM=VALUE")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    settings = args.settings if args.settings is not None else DEFAULTS
    print(f"{Path(args.workflow).name} with {' '.join(settings) or 'its own settings'}; "
          f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for _ in range(args.repeats):
        wall1, run1, wall2, run2 = one_pair(Path(args.workflow), settings)
        print(f"first Run   wall {wall1:7.2f} s   in run {run1:7.2f} s", flush=True)
        print(f"second Run  wall {wall2:7.2f} s   in run {run2:7.2f} s   (new Generate prompt only)", flush=True)
        print(f"second/first: wall {wall2 / wall1:.3f}, in run {run2 / max(run1, 1e-9):.3f}", flush=True)


if __name__ == "__main__":
    main()
