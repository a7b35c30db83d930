"""How NodeFlow starts its own child processes, and `nodeflow run WORKFLOW --nproc N`.

Every nodeflow child (the editor's runs, `sweep --jobs` workers, the ranks of `--nproc`) is
`nodeflow_command(args)`: Python's safe path (-P), so nothing in the child's working directory
(a `nodes` or `nodeflow` package, a `*.dist-info` node pack) is ever imported; the folder this
NodeFlow was imported from goes on PYTHONPATH instead (`child_pythonpath`).

`--nproc N` starts N processes through torchrun's own launcher (torch.distributed.run), each
running `nodeflow_command(["run", WORKFLOW, ...])` with the same arguments.

The workflow was validated here first, so bad input is one line and exit 2 before any process
starts. A failed rank prints its own one-line error; the launcher's summary becomes one line.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodeflow.core import Issue, UserError, default_registry

if TYPE_CHECKING:
    from nodeflow.running import RunOptions

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])  # the folder holding this `nodeflow` package


def nodeflow_command(args: Sequence[str]) -> list[str]:
    """`python -P -u -m nodeflow ARGS`: this interpreter, unbuffered (its reader sees each line as it is
    written), never importing from its working directory."""
    return [sys.executable, "-P", "-u", "-m", "nodeflow", *args]


def child_pythonpath(current: str | None) -> str:
    """PYTHONPATH for a child: this NodeFlow's folder first (-P leaves the working directory off the path,
    so a checkout that is not installed is found here), then what was already there."""
    rest = [p for p in (current or "").split(os.pathsep) if p and p != PACKAGE_ROOT]
    return os.pathsep.join([PACKAGE_ROOT, *rest])


def child_environment() -> dict[str, str]:
    """This process's environment with the child's PYTHONPATH."""
    return {**os.environ, "PYTHONPATH": child_pythonpath(os.environ.get("PYTHONPATH"))}


def launch(options: RunOptions, workflow: Any) -> int:
    n = options.nproc or 0
    if n < 1:
        raise UserError(Issue(f"must be 1 or more, got {n}", field="--nproc"))
    if requested_device(options, workflow).startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count < n:
            raise UserError(Issue(f"{n} processes on cuda need {n} GPUs; this machine has {count}",
                                  field="--nproc"))
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))  # threads per process
    os.environ["PYTHONPATH"] = child_pythonpath(os.environ.get("PYTHONPATH"))  # the ranks inherit it
    for name in list(logging.root.manager.loggerDict):  # the agent's reports become our one line
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    argv = _without_nproc(list(options.argv))
    try:
        # --no-python: torchrun starts our command as it is (its own would be `python -u -m nodeflow`)
        run(get_args_parser().parse_args(["--standalone", "--nproc-per-node", str(n), "--no-python",
                                          *nodeflow_command(argv)]))
    except ChildFailedError as exc:
        return _exit_code(exc)
    except SignalException:  # Ctrl-C or the editor's Stop: the agent passed it on; rank 0 says so
        return 130
    return 0


def requested_device(options: RunOptions, workflow: Any) -> str:
    """The device the run trains on: --device, else the first Trainer's `device` param."""
    devices = [str(n.params.get("device", "auto")) for n in default_registry().trainers(workflow)]
    return options.device or (devices[0] if devices else "auto")


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _exit_code(exc: Any) -> int:
    """The first failure's exit code; a rank killed by a signal is one line here (it could not speak)."""
    rank, failure = min(exc.failures.items(), key=lambda item: item[1].timestamp)
    code = failure.exitcode
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        print(f"error: rank {rank} was killed by {name}; every rank stopped. `--resume auto` continues "
              f"from the last checkpoint", file=sys.stderr)
        return 1
    return code
