"""Kill harness: kill -9 a training run at random moments, resume, and count.

For each trial: start digits_cnn, kill it (half the kills at a random time, half a few
milliseconds after an epoch ends, when its checkpoints are being written), check that
every file under a final checkpoint name opens with torch.load, then `--resume auto`
(which may be killed again) until the run completes, and compare the final weights and
epoch_losses with an uninterrupted run.

    python benchmarks/kill_harness.py --runs 20
    python benchmarks/kill_harness.py --runs 20 --data lazy
    python benchmarks/kill_harness.py --runs 10 --data large

--data lazy runs workflows/shapes_augment.json instead: ImageFolder streamed by 2 DataLoader
workers with random augmentation; half of its random-time stops are Ctrl-C (SIGINT), which
writes a mid-epoch checkpoint that `--resume auto` continues from.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
COMMON = ["--set", "Trainer.epochs=3", "--set", "Trainer.save_every_n_epochs=1", "--set", "Trainer.checkpoint_dir=ck"]
DATA = {
    "memory": ("digits_cnn.json", ["--set", "Trainer.batch_size=16", "--set", "CNN.channels=64,128",
                                   "--set", "CNN.hidden=256", "--set", "CNN.dropout=0.3"]),
    "large": ("digits_cnn.json", ["--set", "Trainer.batch_size=16", "--set", "CNN.channels=64,128",
                                  "--set", "CNN.hidden=12000"]),  # 76 MB checkpoints
    "lazy": ("shapes_augment.json", ["--set", "Trainer.batch_size=8", "--set", "Trainer.num_workers=2",
                                     "--set", "ResNet.dropout=0.3"]),
}
DATA_KIND = "memory"


def command(resume: bool) -> list[str]:
    extra = ["--resume", "auto"] if resume else []
    workflow, settings = DATA[DATA_KIND]
    return [sys.executable, str(ROOT / "main.py"), "run", str(ROOT / "workflows" / workflow),
            *COMMON, *settings, "--events", "jsonl", *extra]


def run_to_end(cwd: Path, resume: bool) -> None:
    done = subprocess.run(command(resume), cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"run failed in {cwd}: {done.stderr.strip()}")


def run_and_kill(cwd: Path, resume: bool, rng: random.Random, duration: float) -> tuple[bool, bool, bool]:
    """Start a run and stop it: kill -9, or for lazy data sometimes Ctrl-C (a mid-epoch checkpoint).

    Returns (stopped before it finished, aimed at a save, Ctrl-C)."""
    proc = subprocess.Popen(command(resume), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    epoch_ended = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            if '"event": "epoch_end"' in line:
                epoch_ended.set()

    threading.Thread(target=read, daemon=True).start()
    aimed = rng.random() < 0.5
    if aimed:
        epoch_ended.wait(timeout=duration * 2)
        time.sleep(rng.uniform(0.0, 0.03))
    else:
        time.sleep(rng.uniform(0.5, duration))
    finished = proc.poll() is not None
    ctrl_c = DATA_KIND == "lazy" and not aimed and rng.random() < 0.5
    if ctrl_c:
        proc.send_signal(signal.SIGINT)
    else:
        proc.kill()
    proc.wait()
    return not finished, aimed, ctrl_c and not finished


def final_names_readable(folder: Path) -> tuple[int, int]:
    """(files under final names, how many of them torch.load cannot open)."""
    files = list(folder.glob("*.pt")) if folder.exists() else []
    bad = 0
    for path in files:
        try:
            torch.load(path)
        except Exception:  # any failure to open counts
            bad += 1
    return len(files), bad


def same_result(a: Path, b: Path) -> bool:
    x, y = torch.load(a / "final_model.pt"), torch.load(b / "final_model.pt")
    return x["epoch_losses"] == y["epoch_losses"] and all(
        torch.equal(v, y["model_state_dict"][k]) for k, v in x["model_state_dict"].items())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", choices=tuple(DATA), default="memory",
                        help="memory: digits_cnn (tensors in memory); large: the same with 76 MB checkpoints "
                             "(large writes hashed on a thread, replaced files freed on one); lazy: shapes_augment "
                             "(ImageFolder streamed by 2 DataLoader workers, random augmentation)")
    args = parser.parse_args()
    global DATA_KIND
    DATA_KIND = args.data
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="nodeflow-kill-"))
    os.environ["NODEFLOW_HOME"] = str(work / "home")  # its runs stay out of ~/.nodeflow/runs
    reference = work / "reference"
    reference.mkdir()
    started = time.time()
    run_to_end(reference, resume=False)
    duration = time.time() - started
    kills = aimed_kills = inside_write = checked = unreadable = identical = ctrl_cs = mid_epoch = 0
    for trial in range(args.runs):
        cwd = work / f"trial_{trial}"
        cwd.mkdir()
        resume = False
        while True:
            killed, aimed, ctrl_c = run_and_kill(cwd, resume, rng, duration)
            if ctrl_c:
                ctrl_cs += 1
                interrupted = cwd / "ck" / "checkpoint_interrupted.pt"
                mid_epoch += interrupted.exists() and torch.load(interrupted)["batch_in_epoch"] > 0
            elif killed:
                kills += 1
                aimed_kills += aimed
                inside_write += bool(list((cwd / "ck").glob(".*.tmp"))) if (cwd / "ck").exists() else 0
                files, bad = final_names_readable(cwd / "ck")
                checked, unreadable = checked + files, unreadable + bad
            resume = True
            if not killed or rng.random() < 0.5:  # sometimes kill the resumed run too
                break
        run_to_end(cwd, resume=True)
        identical += same_result(reference / "ck", cwd / "ck")
        shutil.rmtree(cwd)
        print(f"trial {trial + 1}/{args.runs}: {identical} identical so far", flush=True)
    shutil.rmtree(work)
    print(f"\ndata: {args.data} ({DATA[args.data][0]})")
    print(f"trials: {args.runs}, kill -9: {kills} ({aimed_kills} aimed at checkpoint saves, "
          f"{inside_write} landed inside a write)")
    if args.data == "lazy":
        print(f"Ctrl-C: {ctrl_cs} ({mid_epoch} left a mid-epoch checkpoint that the resume continued from)")
    print(f"resumed runs bit-identical to the uninterrupted run: {identical}/{args.runs}")
    print(f"files under final checkpoint names checked after kills: {checked}, unreadable: {unreadable}")


if __name__ == "__main__":
    main()
