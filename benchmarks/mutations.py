"""Mutation check: break the code on purpose, one break at a time, and see that a test fails.

Every break in benchmarks/mutations.toml names a file, the exact text to replace, what to
put instead, the tests that must fail, and what the break means. Each is applied in a
temporary copy of the repository (the files git tracks or would track, as they are in the
working tree now), the named tests run there with this Python, and the break counts as
caught when they fail. The named tests also run once unbroken first: a test that fails
without the break proves nothing.

    python benchmarks/mutations.py                  # every break
    python benchmarks/mutations.py --only manifest  # breaks whose name contains a word
    python benchmarks/mutations.py --list
    python benchmarks/mutations.py --shard 1/2 & python benchmarks/mutations.py --shard 2/2   # two cores

Exit status: 0 when every break was caught, 1 when one was missed, 2 when the list is out
of step with the code (a file or an exact old text not found once) or the tests fail unbroken.
Add a break here whenever a bug is found that the tests did not catch.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = Path(__file__).with_name("mutations.toml")


@dataclass(frozen=True)
class Break:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


def load(path: Path = LIST) -> list[Break]:
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    return [Break(b["name"], b["file"], b["old"], b["new"], tuple(b["tests"]), b["why"]) for b in doc["break"]]


def out_of_step(breaks: list[Break], root: Path) -> list[str]:
    """One line per break whose file is missing or whose old text is not found exactly once."""
    problems = []
    for b in breaks:
        path = root / b.file
        if not path.is_file():
            problems.append(f"{b.name}: no file {b.file}")
            continue
        count = path.read_text(encoding="utf-8").count(b.old)
        if count != 1:
            problems.append(f"{b.name}: the old text is found {count} times in {b.file} (must be once)")
    return problems


def copy_repository(dest: Path) -> None:
    """The files git tracks or would track (untracked, not ignored), as they are in the working tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def environment(copy: Path, home: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(copy), "NODEFLOW_HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
            "PYTHONDONTWRITEBYTECODE": "1"}


def check_imports_from(copy: Path, env: dict[str, str]) -> None:
    """The copy's code must be what runs (the repository may be installed in editable mode)."""
    code = "import nodeflow, nodes, tests; print(nodeflow.__file__); print(nodes.__file__); print(tests.__file__)"
    found = subprocess.run([sys.executable, "-c", code], cwd=copy, env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    strays = [f for f in found if not Path(f).resolve().is_relative_to(copy.resolve())]
    if strays:
        raise SystemExit(f"the copy is not what gets imported: {', '.join(strays)}")


def run_tests(tests: tuple[str, ...], copy: Path, env: dict[str, str], timeout: float) -> tuple[str, float]:
    """'passed', 'failed', 'timeout' or 'error: ...' (pytest could not run them), and the seconds taken."""
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider", *tests],
                              cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start
    seconds = time.monotonic() - start
    if done.returncode == 0:
        return "passed", seconds
    if done.returncode == 1:
        return "failed", seconds
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    return f"error (pytest exit {done.returncode}): {' | '.join(tail)}", seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="WORD",
                        help="only breaks whose name contains WORD (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the breaks and exit")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per test run (default 900)")
    parser.add_argument("--shard", default="1/1", metavar="K/N",
                        help="every N-th chosen break from the K-th: run 1/2 and 2/2 side by side on two cores")
    args = parser.parse_args(argv)
    breaks = load()
    chosen = [b for b in breaks if not args.only or any(w in b.name for w in args.only)]
    shard, shards = (int(n) for n in args.shard.split("/"))
    chosen = chosen[shard - 1::shards]
    problems = out_of_step(breaks, ROOT)
    if problems:
        print("the list is out of step with the code:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.list:
        for b in breaks:
            print(f"{b.name}: {b.why}\n    {b.file}; {', '.join(b.tests)}")
        return 0
    if not chosen:
        print(f"no break's name contains {' or '.join(args.only)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nodeflow-mutations-") as tmp:
        copy, home = Path(tmp) / "repo", Path(tmp) / "home"
        copy.mkdir()
        home.mkdir()
        copy_repository(copy)
        env = environment(copy, home)
        check_imports_from(copy, env)
        every = tuple(dict.fromkeys(t for b in chosen for t in b.tests))
        result, seconds = run_tests(every, copy, env, args.timeout * 2)
        print(f"unbroken: the {len(every)} named tests {result} ({seconds:.0f} s)", flush=True)
        if result != "passed":
            return 2
        caught = 0
        for index, b in enumerate(chosen, 1):
            path = copy / b.file
            original = path.read_text(encoding="utf-8")
            path.write_text(original.replace(b.old, b.new), encoding="utf-8")
            try:
                result, seconds = run_tests(b.tests, copy, env, args.timeout)
            finally:
                path.write_text(original, encoding="utf-8")
            verdict = "caught" if result in ("failed", "timeout") else "MISSED" if result == "passed" else result
            caught += verdict == "caught"
            print(f"[{index}/{len(chosen)}] {verdict:6}  {b.name} ({seconds:.0f} s): {b.why}", flush=True)
    minutes = (time.monotonic() - started) / 60
    print(f"{caught}/{len(chosen)} caught in {minutes:.1f} min")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
