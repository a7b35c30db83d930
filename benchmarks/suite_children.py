"""What a CLI child of the test suite costs: `main.py run workflows/wine_mlp.json` (one epoch, nothing
saved) started as a fresh interpreter (`subprocess`) and forked from the warm one the suite uses
(tests/warm_child.py), alternating, several times each; medians and their ratio. Every `run_cli` and
`start_cli` call of the suite pays the warm time instead of the fresh one.

    python benchmarks/suite_children.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the suite runs its children

from tests.warm_child import run_main  # noqa: E402

ARGS = ["run", str(ROOT / "workflows" / "wine_mlp.json"), "--set", "Trainer.epochs=1", "--set",
        "Trainer.checkpoint_dir="]


def timed(how: str, cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    if how == "fresh":
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), *ARGS], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
    else:
        done = run_main(ARGS, cwd, env, timeout=300)
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "NODEFLOW_HOME": scratch}
        timed("fresh", Path(scratch), env), timed("warm", Path(scratch), env)  # bytecode, the fork server: untimed
        times: dict[str, list[float]] = {"fresh": [], "warm": []}
        for _ in range(args.repeats):
            for how in times:
                times[how].append(timed(how, Path(scratch), env))
    fresh, warm = statistics.median(times["fresh"]), statistics.median(times["warm"])
    print(f"one-epoch wine run, median of {args.repeats}: fresh interpreter {fresh:.2f} s, "
          f"forked warm {warm:.2f} s, ratio {warm / fresh:.2f}")


if __name__ == "__main__":
    main()
