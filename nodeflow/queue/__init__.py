"""Runs beyond the process that asks for them: a persistent queue and Slurm submission (docs/queue.md,
docs/cluster.md).

`store.py` is the queue (SQLite under $NODEFLOW_HOME/queue/), `attempt.py` how one try of a queued
run is started and read back, `worker.py` is `nodeflow worker`, `slurm.py` submits through submitit
and `slurm_job.py` is what runs inside the job. Only `commands.py` (argument parsing) is imported
at start-up; none of it imports Qt.
"""
