"""Data-parallel runs under torchrun: the process group, this process's rank, and the few
collectives the engine needs. Outside torchrun every helper is a no-op for one process.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; `start` joins the group (gloo on CPU, nccl on
CUDA). Every rank runs the whole workflow; only rank 0 writes files and prints.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def launched() -> bool:
    """Started by torchrun (or torch.distributed.run) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: str | None = None) -> None:
    """Join the process group torchrun describes: nccl where this rank trains on CUDA, else gloo."""
    if not launched() or dist.is_initialized():
        return
    cuda = torch.cuda.is_available() and (device or "auto") not in ("cpu", "mps")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """A rank's own GPU: under torchrun any cuda device means cuda:LOCAL_RANK."""
    if device.type == "cuda" and launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def all_sum(*tensors: torch.Tensor) -> None:
    """Sum each tensor over the ranks, in place."""
    if world_size() > 1:
        for tensor in tensors:
            dist.all_reduce(tensor)


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is True on one (a stop request must stop all ranks at the same step)."""
    if world_size() == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gathered(value: Any) -> list[Any]:
    """Every rank's `value`, in rank order, on every rank."""
    if world_size() == 1:
        return [value]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


def from_rank0(value: Any) -> Any:
    """Rank 0's `value` on every rank."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class PeerFailed(RuntimeError):
    """Rank 0 failed in work done for every rank; it prints the reason, this rank stays quiet."""


def on_rank0(work: Callable[[], Any]) -> Any:
    """Run `work` on rank 0 only and hand its result to every rank; its failure fails every rank."""
    if world_size() == 1:
        return work()
    result, failed = None, ""
    if rank() == 0:
        try:
            result = work()
        except Exception as exc:
            failed = str(exc)
            from_rank0((None, failed))
            raise
    result, failed = from_rank0((result, failed))
    if failed:
        raise PeerFailed(failed)
    return result


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def peer_failure(exc: BaseException) -> bool:
    """An error from a collective whose peer went away: the peer reports its own failure."""
    dist_error = getattr(dist, "DistError", ())
    return launched() and (isinstance(exc, (dist_error, PeerFailed)) or "gloo" in str(exc).lower()
                           or "nccl" in str(exc).lower() or "connection closed" in str(exc).lower())
