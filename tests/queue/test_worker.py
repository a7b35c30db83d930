"""Workers in child processes: runs taken once each, a worker killed with kill -9 mid-run, a run that keeps
killing its worker."""
from __future__ import annotations

import re
import subprocess
import sys

from nodeflow.queue.store import alive
from tests.conftest import ROOT
from tests.queue.conftest import WINE, epochs_ended, same_weights

LONG = ["--set", "Trainer.epochs=60", "--set", "Trainer.save_every_n_epochs=5", "--set", "Predict.path=pred.csv"]


def test_two_workers_drain_six_runs_each_run_once(home):
    ids = [home.submit(WINE, "--set", "Trainer.epochs=2", "--set", f"Predict.path=pred_{n}.csv") for n in range(6)]
    assert ids == [1, 2, 3, 4, 5, 6]
    workers = [home.worker("--devices", "cpu", "--drain") for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    started = [int(n) for out in outputs for n in re.findall(r"^run (\d+) started", out, re.M)]
    assert sorted(started) == ids  # every run started once, by one worker or the other
    assert all(re.search(r"^run \d+ started", out, re.M) for out in outputs)  # both took runs
    rows = home.queue().rows()
    assert [(r.state, r.attempts, len(r.run_ids)) for r in rows] == [("done", 1, 1)] * 6
    assert len({r.run_ids[0] for r in rows}) == 6  # six recorded runs, one each
    folders = sorted(p.name for p in (home.cwd / "checkpoints" / "wine_mlp").iterdir())
    assert folders == [f"run_{n}" for n in range(1, 7)]
    assert all((home.cwd / "checkpoints" / "wine_mlp" / f / "final_model.pt").is_file() for f in folders)


def test_a_worker_killed_mid_run_loses_nothing_and_the_run_ends_on_the_same_weights(home, tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    uninterrupted = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "run", WINE, *LONG, "--set",
                                      "Trainer.checkpoint_dir=ck"], cwd=reference, env=home.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = home.submit(WINE, *LONG)
    second = home.submit(WINE, "--set", "Trainer.epochs=2", "--set", "Predict.path=other.csv")
    worker = home.worker("--devices", "cpu")
    events = home.root / "queue" / "runs" / str(first) / "attempt_1.jsonl"
    home.wait_for(lambda: epochs_ended(events) >= 12, "epoch 12 of the first run")
    worker.kill()
    worker.wait()
    queue = home.queue()
    row = queue.get(first)
    assert row.state == "running" and epochs_ended(events) < 60  # killed mid-run, its row says so
    home.wait_for(lambda: not alive(row.child), "the run's process to end", timeout=120)
    assert '"event": "run_end"' not in events.read_text()  # it died with its worker, did not train on unseen

    again = home.worker("--devices", "cpu", "--drain")
    out = again.communicate(timeout=300)[0]
    assert again.returncode == 0, out
    assert f"run {first} queued: its worker died during attempt 1" in out
    row, other = queue.get(first), queue.get(second)
    assert (row.state, row.attempts, row.crashes, len(row.run_ids)) == ("done", 2, 1, 2)
    assert (other.state, other.attempts) == ("done", 1)  # the run waiting behind it was not lost
    resumed = (home.root / "queue" / "runs" / str(first) / "attempt_2.jsonl").read_text()
    assert '"epoch": 1,' not in resumed and '"epoch": 60,' in resumed  # continued, not started again
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read()
    assert same_weights(home.cwd / "checkpoints" / "wine_mlp" / "run_1" / "final_model.pt",
                        reference / "ck" / "final_model.pt")


def test_a_run_whose_worker_dies_three_times_is_failed_with_the_reason_not_retried(home):
    run = home.submit(WINE, "--set", "Trainer.epochs=2000", "--set", "Predict.path=pred.csv")
    queue = home.queue()
    for n in (1, 2, 3):
        worker = home.worker("--devices", "cpu")
        home.wait_for(lambda n=n: (r := queue.get(run)).attempts == n and bool(r.child), f"attempt {n}")
        worker.kill()
        worker.wait()
    last = home.worker("--devices", "cpu", "--drain")
    out = last.communicate(timeout=120)[0]
    row = queue.get(run)
    assert (row.state, row.attempts, row.crashes) == ("failed", 3, 3), out
    assert row.reason == "killed while running 3 times, not retried (last: its worker died during attempt 3)"
    assert f"run {run} failed: killed while running 3 times" in out
    assert "started" not in out  # no fourth attempt
