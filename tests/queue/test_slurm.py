"""A workflow sent to a real one-node Slurm cluster: requeued mid-run twice (`scontrol requeue`, as a
preemption does, and Slurm's time-limit warning, SIGUSR2), it ends on the weights of an uninterrupted run;
bad Slurm options are refused at submit time."""
from __future__ import annotations

import subprocess
import sys

from nodeflow.queue import slurm as slurm_module
from tests.conftest import ROOT
from tests.queue.conftest import WINE, epochs_ended, same_weights
from tests.queue.slurm_cluster import slurm  # noqa: F401 (the fixture)

LONG = ["--set", "Trainer.epochs=60", "--set", "Trainer.save_every_n_epochs=5", "--set", "Predict.path=pred.csv"]


def test_bad_slurm_input_is_refused_at_submit_time_in_one_line(home, slurm, monkeypatch):  # noqa: F811
    code, out, err = home.here("submit", WINE, "--to", "slurm", "--partition", "gpu-large")
    assert (code, out) == (2, "")
    assert err == "error: field '--partition': no partition 'gpu-large' on this cluster (partitions: debug)\n"
    code, out, err = home.here("submit", WINE, "--to", "slurm", "--set", "Trainer.epochs=0")
    assert (code, err.splitlines()) == (2, [f"error: {WINE}: node 'Trainer' field 'epochs': --set: must be at least "
                                            f"1 (got 0)"])
    monkeypatch.setenv("PATH", "/nonexistent")
    code, out, err = home.here("submit", WINE, "--to", "slurm")
    assert code == 2 and err.startswith("error: field '--to': sbatch and scontrol are not on PATH") \
        and err.count("\n") == 1
    assert home.queue().rows() == []  # nothing queued, nothing submitted


def test_a_slurm_job_requeued_mid_run_resumes_and_ends_on_the_same_weights(home, slurm, tmp_path):  # noqa: F811
    reference = tmp_path / "reference"
    reference.mkdir()
    uninterrupted = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "run", WINE, *LONG, "--set",
                                      "Trainer.checkpoint_dir=ck"], cwd=reference, env=home.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = home.submit(WINE, *LONG, "--to", "slurm", "--partition", "debug")
    queue = home.queue()
    job = queue.get(run).job_id
    folder = home.root / "queue" / "runs" / str(run)
    # a preemption's way: Slurm sends SIGTERM to the job and puts it back in the queue
    home.wait_for(lambda: epochs_ended(folder / "attempt_1.jsonl") >= 12, "epoch 12 of the job's first start")
    subprocess.run(["scontrol", "requeue", job], check=True)
    # the time limit's way: Slurm's warning (SIGUSR2) reaches submitit, which checkpoints and requeues
    home.wait_for(lambda: epochs_ended(folder / "attempt_2.jsonl") >= 3, "epochs of the job's second start")
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    home.wait_for(lambda: slurm_module.refresh(queue, queue.get(run)).state != "slurm", "the job's end")
    row = queue.get(run)
    assert (row.state, row.attempts) == ("done", 3), row.reason
    assert slurm_module.job_state(job)["Restarts"] == "2"
    first, second, third = (folder / f"attempt_{n}.jsonl" for n in (1, 2, 3))
    assert '"status": "interrupted"' in first.read_text() and '"status": "interrupted"' in second.read_text()
    assert 12 <= epochs_ended(first) < 60 and '"epoch": 60,' in third.read_text()
    assert '"epoch": 1,' not in second.read_text() + third.read_text()  # each start continued, none began again
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read()
    assert same_weights(home.cwd / "checkpoints" / "wine_mlp" / "run_1" / "final_model.pt",
                        reference / "ck" / "final_model.pt")
