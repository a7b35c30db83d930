"""Requeue timings of a Slurm job, from a real one-node cluster: runs the queue's Slurm test (a workflow
sent with `--to slurm`, requeued by `scontrol requeue` after epoch 12, then warned with the time
limit's SIGUSR2) in a kept temporary folder, and reads the job's own records afterwards:

- signal to interrupt checkpoint: submitit's warning (recorded when it catches SIGUSR2) to the
  `checkpoint_interrupted.pt` save event;
- stop to next start: the attempt's end to Slurm starting the job again (the test cluster lets a
  requeued job start again after 5 s, Slurm's default is 121 s);
- start to first new batch: the job's process starting to its first trained batch (Python, torch and
  the node types imported, the workflow checked, the checkpoint loaded, one batch trained).

Needs root and Slurm installed (as the tests do).

    python benchmarks/requeue.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/queue/test_slurm.py::test_a_slurm_job_requeued_mid_run_resumes_and_ends_on_the_same_weights"
TRAINED = ("train_step", "batch_progress")


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    with tempfile.TemporaryDirectory() as temp:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                               f"--basetemp={temp}", TEST], cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
            return 1
        (folder,) = {path.resolve() for path in Path(temp).glob("*/home/queue/runs/1")}  # a link may name it too
        notes = events(folder / "requeues.jsonl")
        starts = {n["attempt"]: n["started"] for n in notes if "started" in n}
        stops = [n for n in notes if "stopped" in n]
        print("a wine_mlp job of 60 epochs on a one-node Slurm cluster, requeued twice; seconds")
        for attempt in sorted(starts)[1:]:
            seen = events(folder / f"attempt_{attempt}.jsonl")
            first = next(e["time"] for e in seen if e["event"] in TRAINED and e.get("epoch", 1) >= 1)
            stop = stops[attempt - 2]
            print(f"start {attempt}: stop to next start {starts[attempt] - stop['stopped']:6.2f}   "
                  f"start to first new batch {first - starts[attempt]:5.2f}")
        for attempt, stop in enumerate(stops, 1):
            if "warned" in stop:
                saved = next(e["time"] for e in events(folder / f"attempt_{attempt}.jsonl")
                             if e["event"] == "checkpoint_saved" and e.get("kind") == "interrupt")
                print(f"start {attempt}: SIGUSR2 to interrupt checkpoint {saved - stop['warned']:5.3f}   "
                      f"to the job's process gone {stop['stopped'] - stop['warned']:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
