"""What the queue adds to a run, and how fast a Slurm job comes back from a requeue.

    python benchmarks/queue_overhead.py --rounds 4
    SLURM_CONF=/path/slurm.conf python benchmarks/queue_overhead.py --slurm   # a running cluster

Local: the same wine run (3 epochs) as `nodeflow run` alone, and as `nodeflow submit` followed by
`nodeflow worker --drain`, alternating, each in fresh processes (wall time of the commands); and from the
queue's own records, submit -> start (the worker's start-up and its poll) and start -> recorded (the run).

--slurm: a 200-epoch wine job, `scontrol requeue` once epoch 20 has ended, then Slurm's time-limit
warning (SIGUSR2, sent with scancel) in the second start: the time from each signal to the interrupt
checkpoint on disk, and from each restart to its first new batch.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WINE = str(ROOT / "workflows" / "wine_mlp.json")
SETS = ["--set", "Trainer.epochs=3", "--set", "Predict.path=pred.csv"]


def nodeflow(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"nodeflow {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def local(rounds: int) -> None:
    alone, queued, waits, runs = [], [], [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            env = {**os.environ, "PYTHONPATH": str(ROOT), "NODEFLOW_HOME": str(folder / "home"),
                   "OMP_NUM_THREADS": "1"}
            t0 = time.perf_counter()
            nodeflow(["run", WINE, *SETS], folder, env)
            alone.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            nodeflow(["submit", WINE, *SETS], folder, env)
            nodeflow(["worker", "--drain"], folder, env)
            queued.append(time.perf_counter() - t0)
            os.environ["NODEFLOW_HOME"] = env["NODEFLOW_HOME"]
            from nodeflow.queue.store import Queue

            row = Queue().rows()[0]
            assert row.started and row.ended
            waits.append(row.started - row.submitted)
            runs.append(row.ended - row.started)
    print(f"wine_mlp.json, 3 epochs; {rounds} alternating rounds, median wall seconds")
    print(f"nodeflow run alone             {statistics.median(alone):.2f} s  ({', '.join(f'{t:.2f}' for t in alone)})")
    print(f"submit + worker --drain        {statistics.median(queued):.2f} s  "
          f"({', '.join(f'{t:.2f}' for t in queued)})")
    print(f"ratio                          {statistics.median(queued) / statistics.median(alone):.2f}")
    print(f"queue records: submit -> start {statistics.median(waits):.2f} s, start -> recorded "
          f"{statistics.median(runs):.2f} s (the run itself, in the worker's child)")


def slurm() -> None:
    from nodeflow.queue.attempt import read_events
    from nodeflow.queue.slurm import job_state
    from nodeflow.queue.store import Queue

    with tempfile.TemporaryDirectory(dir=os.environ.get("NODEFLOW_BENCH_DIR")) as tmp:
        folder = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NODEFLOW_HOME": str(folder / "home"), "OMP_NUM_THREADS": "1"}
        os.environ["NODEFLOW_HOME"] = env["NODEFLOW_HOME"]
        nodeflow(["submit", WINE, "--set", "Trainer.epochs=200", "--set", "Trainer.save_every_n_epochs=20",
                  "--set", "Predict.path=pred.csv", "--to", "slurm"], folder, env)
        queue = Queue()
        row = queue.rows()[0]
        runs = folder / "home" / "queue" / "runs" / str(row.id)
        ckpt = folder / "checkpoints" / "wine_mlp" / "run_1" / "checkpoint_interrupted.pt"

        def epochs(n: int) -> int:
            return sum(1 for e in read_events(runs / f"attempt_{n}.jsonl") if e["event"] == "epoch_end")

        def wait(test, what: str) -> None:  # type: ignore[no-untyped-def]
            deadline = time.time() + 300
            while not test():
                if time.time() > deadline:
                    raise SystemExit(f"gave up waiting for {what}")
                time.sleep(0.01)

        wait(lambda: epochs(1) >= 20, "epoch 20")
        signalled = time.time()
        subprocess.run(["scontrol", "requeue", row.job_id], check=True)
        wait(ckpt.exists, "the interrupt checkpoint")
        first_stop = ckpt.stat().st_mtime - signalled
        wait(lambda: epochs(2) >= 5, "the second start's epochs")
        mtime = ckpt.stat().st_mtime
        signalled = time.time()
        subprocess.run(["scancel", "--signal=USR2", row.job_id], check=True)
        wait(lambda: ckpt.exists() and ckpt.stat().st_mtime != mtime, "the second interrupt checkpoint")
        second_stop = ckpt.stat().st_mtime - signalled
        wait(lambda: (folder / "home" / "queue" / "runs" / str(row.id) / "result.json").exists(), "the job's end")
        notes = [e for e in read_events(runs / "requeues.jsonl") if "started" in e]
        restart = []
        for note in notes[1:]:
            batches = [e["time"] for e in read_events(runs / f"attempt_{note['attempt']}.jsonl")
                       if e["event"] in ("train_step", "batch_progress", "epoch_end")]
            restart.append(batches[0] - note["started"])
        print(f"Slurm job {row.job_id}: {job_state(row.job_id).get('JobState')}, restarts "
              f"{job_state(row.job_id).get('Restarts')}")
        print(f"scontrol requeue -> interrupt checkpoint on disk: {first_stop:.3f} s")
        print(f"SIGUSR2 (time-limit warning) -> interrupt checkpoint on disk: {second_stop:.3f} s")
        print("job restart (our code starts) -> first new batch: " + ", ".join(f"{t:.2f} s" for t in restart))
        print("(between the job's end and its restart Slurm waits cred_expire + 1 s, then its scheduler's next pass)")
        print(json.dumps({"restart_gaps": [n["started"] for n in notes]}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--slurm", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    slurm() if args.slurm else local(args.rounds)
