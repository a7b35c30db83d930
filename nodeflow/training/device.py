"""Device names (`auto`, `cpu`, `cuda`, `cuda:N`, `mps`) to torch devices, with clear errors."""
from __future__ import annotations

import os
import re

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
_CUDA_N = re.compile(r"^cuda:(\d+)$")


def device_problem(name: str) -> str | None:
    """Why `name` cannot be used on this machine, or None."""
    if name in ("auto", "cpu"):
        return None
    if name == "mps":
        ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        return None if ok else "'mps' requested but MPS is not available on this machine"
    match = _CUDA_N.match(name)
    if name == "cuda" or match:
        if not torch.cuda.is_available():
            return f"{name!r} requested but CUDA is not available on this machine"
        count = torch.cuda.device_count()
        if match and int(match.group(1)) >= count:
            return f"{name!r} requested but this machine has {count} CUDA device(s)"
        return None
    return f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)"


def resolve_device(name: str) -> torch.device:
    """The torch device for a name already accepted by `device_problem`."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    return torch.device(name)


def available_devices(cores: int | None = None) -> list[dict[str, str]]:
    """What the editor's device picker offers: auto, cpu, each CUDA device by name and memory, mps,
    and data-parallel runs where they make sense: one process per GPU with 2 or more GPUs, 2 CPU
    processes with 4 or more cores. Those are `ddp:N:DEVICE` (`run --nproc N --device DEVICE`)."""
    found = [{"device": "auto", "label": "auto"}, {"device": "cpu", "label": "cpu"}]
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus >= 2:
        found.append({"device": f"ddp:{gpus}:cuda", "label": f"{gpus} processes (DDP), one per GPU"})
    if (cores or os.cpu_count() or 1) >= 4:
        found.append({"device": "ddp:2:cpu", "label": "2 processes (DDP) on cpu"})
    for index in range(gpus):
        props = torch.cuda.get_device_properties(index)
        found.append({"device": f"cuda:{index}",
                      "label": f"cuda:{index} · {props.name} ({props.total_memory / 2**30:.0f} GiB)"})
    if device_problem("mps") is None:
        found.append({"device": "mps", "label": "mps"})
    return found
