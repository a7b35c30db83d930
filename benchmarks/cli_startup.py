"""The CLI's start-up time now against a base commit (default: the one before `nodeflow sweep` was
registered), both measured in this script: `python main.py --help` and `import nodeflow.cli` in fresh
processes, alternating, several times each; medians and their ratio (other changes since the base
count too). Also lists the modules the current tree imports at start-up that the base did not
(Optuna, matplotlib or SQLAlchemy must not be among them) and what `python -X importtime` says the
sweep command's module costs.

The base is checked out with `git worktree add` into a temporary folder and removed afterwards.

    python benchmarks/cli_startup.py [--base REV] [--repeats 15]

With --run: a one-epoch digits run (`main.py run workflows/digits_cnn.json --set Trainer.epochs=1`)
against the floor `python -c "import torch, sklearn"` and against a hand-written one-epoch loop of
the same kind (load digits, a small CNN, Adam, torch.save), alternating in fresh processes; medians
and ratios, then what `python -X importtime` says the run imports that the hand-written loop does not.

    python benchmarks/cli_startup.py --run [--repeats 7]
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


HAND = """
import torch, sklearn
from sklearn.datasets import load_digits
x, y = load_digits(return_X_y=True)
x, y = torch.tensor(x, dtype=torch.float32).view(-1, 1, 8, 8) / 16, torch.tensor(y)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(2048, 10))
opt = torch.optim.Adam(model.parameters(), 1e-3)
for i in range(0, len(x), 64):
    loss = torch.nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
    opt.zero_grad()
    loss.backward()
    opt.step()
torch.save(model.state_dict(), "hand.pt")
"""


def imported_ms(args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Module -> its own import milliseconds, from python -X importtime."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=cwd, env=env, capture_output=True,
                          text=True)
    costs: dict[str, float] = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            costs[parts[2].strip()] = int(parts[0].split(":")[-1]) / 1000
    return costs


def training_run(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NODEFLOW_HOME": str(cwd / "home")}
        ours = [str(ROOT / "main.py"), "run", str(ROOT / "workflows" / "digits_cnn.json"), "--set", "Trainer.epochs=1"]
        commands = {"import torch, sklearn": ["-c", "import torch, sklearn"], "hand-written loop": ["-c", HAND],
                    "nodeflow run": ours}

        def timed(command: list[str]) -> float:
            started = time.perf_counter()
            subprocess.run([sys.executable, *command], cwd=cwd, env=env, check=True, capture_output=True)
            return time.perf_counter() - started

        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():
            timed(command)  # warm the file cache
        for _ in range(repeats):
            for name, command in commands.items():
                times[name].append(timed(command))
        floor = statistics.median(times["import torch, sklearn"])
        hand = statistics.median(times["hand-written loop"])
        for name in commands:
            median = statistics.median(times[name])
            print(f"{name:22} {median:6.2f} s  {median / floor:5.2f}x the import floor  {median / hand:5.2f}x the "
                  f"hand-written loop  (median of {repeats})")
        mine, theirs = imported_ms(ours, cwd, env), imported_ms(["-c", HAND], cwd, env)
        extra: dict[str, float] = {}
        for name in set(mine) - set(theirs):  # imported by the run only, by top-level package
            extra[name.split(".")[0]] = extra.get(name.split(".")[0], 0.0) + mine[name]
        print("imported by the run and not by the hand-written loop (ms of their own import time): "
              + ", ".join(f"{name} {ms:.0f}" for name, ms in sorted(extra.items(), key=lambda kv: -kv[1]) if ms > 5))
    print(f"{os.cpu_count()} cores (shared with other work: expect noise of a few per cent)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=BASE)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--run", action="store_true", help="time a one-epoch training run instead")
    args = parser.parse_args()
    if args.run:
        training_run(args.repeats)
        return
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
