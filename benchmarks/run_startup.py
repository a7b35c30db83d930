"""A short headless run now against a base commit, both timed in this script: `python main.py run
workflows/wine_mlp.json` (one epoch, nothing saved) in fresh processes, alternating, several times
each; medians and their ratio. Most of such a run is start-up, so this is where an import that every
run pays shows (scikit-learn's, once the Split drew its parts with it: about a second).

The base is checked out with `git worktree add` into a temporary folder and removed afterwards.

    python benchmarks/run_startup.py --base REV [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks.cli_startup import ROOT, seconds

RUN = ["main.py", "run", "workflows/wine_mlp.json", "--set", "Trainer.epochs=1", "--set", "Trainer.checkpoint_dir="]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(base), args.base], cwd=ROOT, check=True)
        try:
            times: dict[str, list[float]] = {"base": [], "now": []}
            seconds(base, RUN), seconds(ROOT, RUN)  # each tree's bytecode compiled once, untimed
            for _ in range(args.repeats):
                times["base"].append(seconds(base, RUN))
                times["now"].append(seconds(ROOT, RUN))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=True)
    base_s, now_s = statistics.median(times["base"]), statistics.median(times["now"])
    print(f"one-epoch wine run, median of {args.repeats}: base {args.base} {base_s:.2f} s, now {now_s:.2f} s, "
          f"ratio {now_s / base_s:.3f}")


if __name__ == "__main__":
    main()
