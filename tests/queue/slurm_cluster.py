"""A single-node Slurm cluster for the tests: munged, slurmctld and slurmd (Debian's slurm-wlm packages),
started as root with a slurm.conf in a temporary folder, stopped after. Without Slurm the tests that
use it fail (CI installs it: .ci/run); they are never skipped."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CONF = """ClusterName=nodeflowtest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
# a requeued job may start again after cred_expire + 1 s (Slurm's default: 121 s)
AuthInfo=cred_expire=5
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=sched_interval=2
JobRequeue=1
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
KillWait=30
MinJobAge=600
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """SLURM_CONF of a running one-node cluster whose node is idle; set in this process's environment."""
    missing = [name for name in NEEDED if _which(name) is None]
    if missing:
        pytest.fail(f"Slurm is not installed ({', '.join(missing)} missing): apt-get install slurmctld slurmd "
                    f"slurm-client munge (CI does)")
    if os.geteuid() != 0:
        pytest.fail("the Slurm tests start slurmctld and slurmd, which needs root")
    folder = tmp_path_factory.mktemp("slurm")
    (folder / "state").mkdir()
    (folder / "spool").mkdir()
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(CONF.format(host=host, dir=folder, cpus=os.cpu_count() or 1, ctld_port=_free_port(),
                                slurmd_port=_free_port()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    started, munged_pid = [], None
    if subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:  # no munged answering yet
        Path("/run/munge").mkdir(exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        munged = subprocess.run(["runuser", "-u", "munge", "--", str(_which("munged"))], capture_output=True,
                                text=True)
        assert munged.returncode == 0, f"munged did not start: {munged.stderr}"
        munged_pid = int(Path("/run/munge/munged.pid").read_text().split()[0])
    for daemon in ("slurmctld", "slurmd"):
        started.append(subprocess.Popen([str(_which(daemon)), "-D"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=open(folder / f"{daemon}.out", "w")))
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    try:
        deadline = time.monotonic() + 60
        while True:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env).stdout
            if state.strip() == "idle":
                break
            if time.monotonic() > deadline:
                logs = "".join((folder / n).read_text()[-2000:] for n in ("slurmctld.log", "slurmd.log")
                               if (folder / n).exists())
                pytest.fail(f"the test cluster's node did not become idle (sinfo: {state.strip()!r}):\n{logs}")
            time.sleep(0.5)
        yield conf
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
        for proc in started:
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if munged_pid is not None:
            os.kill(munged_pid, 15)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
