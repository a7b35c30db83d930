"""What running a trial through `nodeflow sweep` costs against the same run alone, both measured in
this script, in one process (torch imported once for both, as a sweep imports it once for all its
trials).

Alone: `nodeflow run WORKFLOW --set Trainer.lr=… --set Trainer.epochs=…` (each with its own checkpoint
folder), timed one by one. Sweep: `nodeflow sweep WORKFLOW --param Trainer.lr=choice:… --param
Trainer.epochs=choice:…` with the same values and N trials (the default median pruner: every epoch
is reported to the trial and the pruner asked; equal trials are never pruned); a trial's time is the time between one
trial's end and the next's in the study's own records (asking Optuna for the trial, its run, the
per-epoch reports to the pruner, telling the result: everything a trial adds), and the one-off cost
(opening the study, writing the results and plots) is the rest of the command's time. Rounds
alternate alone and sweep; on a busy machine the load still moves them apart, so the script also
compares, within the same trials, each run's own time (run_start to run_end) with the time from its
trial's start to the next trial's start: what the sweep adds around a run, unmoved by the load.

    python benchmarks/sweep_overhead.py [--workflow workflows/digits_cnn.json] [--epochs 10] [--trials 4]
                                        [--rounds 2]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflow", default=str(ROOT / "workflows" / "digits_cnn.json"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", default="0.001")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    workflow = str(Path(args.workflow).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        os.environ["NODEFLOW_HOME"] = str(Path(tmp) / "home")
        import optuna

        from nodeflow import cli

        def alone(name: str) -> float:
            started = time.perf_counter()
            assert cli.main(["run", workflow, "--set", f"Trainer.lr={args.lr}", "--set",
                             f"Trainer.epochs={args.epochs}", "--set", f"Trainer.checkpoint_dir=alone/{name}"]) == 0
            return time.perf_counter() - started

        alone("warm-up")  # torch, the nodes and the data loaded once, before either is timed
        runs, trials, one_off, inside, period = [], [], [], [], []
        for r in range(args.rounds):
            runs += [alone(f"r{r}_{i}") for i in range(args.trials)]
            started = time.perf_counter()
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                assert cli.main(["sweep", workflow, "--param", f"Trainer.lr=choice:{args.lr}", "--param",
                                 f"Trainer.epochs=choice:{args.epochs}", "--trials", str(args.trials),
                                 "--study", f"r{r}", "--events", "jsonl"]) == 0
            wall = time.perf_counter() - started
            study = optuna.load_study(study_name=f"r{r}", storage=f"sqlite:///sweeps/r{r}/study.db")
            ends = sorted(t.datetime_complete for t in study.trials)
            per_trial = (ends[-1] - ends[0]).total_seconds() / (len(ends) - 1)
            trials.append(per_trial)
            one_off.append(wall - per_trial * len(ends))
            seen = [json.loads(line) for line in printed.getvalue().splitlines() if line.startswith("{")]
            starts = [e["time"] for e in seen if e["event"] == "trial_start"]
            period += [b - a for a, b in zip(starts, starts[1:])]
            inside += [e["seconds"] for e in seen if e["event"] == "run_end"][:-1]
        run_s, trial_s = statistics.mean(runs), statistics.mean(trials)
        print(f"\n{Path(workflow).name}, {args.epochs} epochs, lr {args.lr}; {args.rounds} rounds of {args.trials}")
        print(f"run alone        {run_s:7.2f} s  (mean of {len(runs)}: {', '.join(f'{s:.2f}' for s in runs)})")
        print(f"trial in a sweep {trial_s:7.2f} s  (per round: {', '.join(f'{s:.2f}' for s in trials)})")
        print(f"ratio            {trial_s / run_s:7.3f}  (target <= 1.05; the machine's load moves both)")
        # the same trials seen from inside: each run's own time (run_start to run_end, what `nodeflow run`
        # reports) against the time from its trial's start to the next one's; the load moves both alike
        run_in, trial_in = statistics.mean(inside), statistics.mean(period)
        print(f"within the sweep: run {run_in:.3f} s, trial start to next start {trial_in:.3f} s, "
              f"ratio {trial_in / run_in:.3f}, {1000 * (trial_in - run_in):.0f} ms a trial")
        print(f"one-off per sweep command: {statistics.mean(one_off):.2f} s (study, results, plots)")
        print(f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")

if __name__ == "__main__":
    main()
