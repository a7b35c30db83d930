"""The CLI's start-up time now against a base commit (default: the one before `nodeflow sweep` was
registered), both measured in this script: `python main.py --help` and `import nodeflow.cli` in fresh
processes, alternating, several times each; medians and their ratio (other changes since the base
count too). Also lists the modules the current tree imports at start-up that the base did not
(Optuna, matplotlib or SQLAlchemy must not be among them) and what `python -X importtime` says the
sweep command's module costs.

The base is checked out with `git worktree add` into a temporary folder and removed afterwards.

    python benchmarks/cli_startup.py [--base REV] [--repeats 15]
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

ROOT = Path(__file__).resolve().parents[1]
BASE = "9e5e439"  # the commit just before `nodeflow sweep` was registered


def seconds(tree: Path, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def modules(tree: Path) -> set[str]:
    code = "import sys, nodeflow.cli; nodeflow.cli.build_parser(); print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                         check=True, capture_output=True, text=True).stdout
    return set(out.split())


def sweep_import_us(tree: Path) -> int:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import nodeflow.cli"], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree)}, check=True, capture_output=True, text=True)
    for line in done.stderr.splitlines():  # "import time: self [us] | cumulative | imported package"
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2].strip() == "nodeflow.sweep.commands":
            return int(parts[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=BASE)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            trees = {"base": base, "now": ROOT}
            for what, command in (("main.py --help", ["main.py", "--help"]),
                                  ("import nodeflow.cli", ["-c", "import nodeflow.cli"])):
                times: dict[str, list[float]] = {"base": [], "now": []}
                for tree in trees.values():  # warm the file cache once each
                    seconds(tree, command)
                for _ in range(args.repeats):
                    for name, tree in trees.items():
                        times[name].append(seconds(tree, command))
                base_s, now_s = (statistics.median(times[n]) for n in ("base", "now"))
                print(f"{what:22} base {base_s * 1000:7.1f} ms  now {now_s * 1000:7.1f} ms  "
                      f"ratio {now_s / base_s:.3f}  (medians of {args.repeats})")
            added = sorted(m for m in modules(ROOT) - modules(base) if not m.startswith("_"))
            print(f"modules imported at start-up now but not at {args.base}: {', '.join(added) or 'none'}")
            print(f"nodeflow.sweep.commands, cumulative import time: {sweep_import_us(ROOT)} us (python -X importtime)")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    print(f"{os.cpu_count()} cores (shared with other work: expect noise of a few per cent)")


if __name__ == "__main__":
    main()
