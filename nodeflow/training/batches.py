"""Batches of lazy data: a DataLoader with workers over the seeded order the loop chooses.

The loop decides each epoch's order (one seeded generator, as for in-memory data) and hands
over the batches still to do, so a resumed epoch skips finished batches without decoding
them. Random augmentation of sample i in epoch e draws from a generator seeded with
(seed, e, i): the same images for any worker count, and after a resume. Workers are seeded
from (seed, worker id) and persist across epochs. A sample that fails to decode comes back
to the main process as its one-line DataError, never as a worker traceback.
"""
from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from nodeflow.core.errors import DataError, Issue, UserError

PREFETCH = 4  # batches each worker prepares ahead


def mix(*parts: int) -> int:
    """A 63-bit seed from several integers (SplitMix-style), stable across processes."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value ^ (int(part) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        value ^= value >> 31
    return value & 0x7FFFFFFFFFFFFFFF


def auto_workers(data: Any, requested: int) -> int:
    """num_workers=-1 (auto): none for in-memory data, min(4, cores - 1) for lazy data."""
    if requested >= 0:
        return requested if data.lazy else 0
    return min(4, max((os.cpu_count() or 1) - 1, 0)) if data.lazy else 0


@dataclass(frozen=True)
class Failure:
    """A sample that could not be read, carried through the loader instead of an exception."""

    issue: Issue


class Samples(Dataset):
    """What workers index: keys are (sample, epoch)."""

    def __init__(self, data: Any, seed: int, train: bool):
        self.data, self.seed = data, seed
        self.random = train and data.augment is not None and data.augment.has_random

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        i, epoch = key
        try:
            x, y = self.data.sample(i)
            if self.random:
                generator = torch.Generator().manual_seed(mix(self.seed, epoch, self.data.index[i]))
                x, y = self.data.augment.random(x[None], y[None], generator)
                x, y = x[0], y[0]
            return x, y
        except UserError as exc:
            return Failure(exc.issues[0])
        except Exception as exc:  # a decoder's own error: name the sample, not the worker
            return Failure(Issue(f"'{self.data.name}' sample {i}: {type(exc).__name__}: {exc}", field="path"))


def collate(samples: list[Any]) -> Any:
    failed = next((s for s in samples if isinstance(s, Failure)), None)
    return failed or default_collate(samples)


def seed_worker(seed: int, worker: int) -> None:
    random.seed(mix(seed, worker))
    np.random.seed(mix(seed, worker) % 2**32)
    torch.manual_seed(mix(seed, worker))


class EpochBatches:
    """The batch sampler: whatever batches the loop set for the current epoch."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, int]]] = []

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class LazyBatches:
    """One DataLoader (workers kept between epochs) over lazy data."""

    def __init__(self, data: Any, seed: int, train: bool, workers: int, device: torch.device):
        self.sampler = EpochBatches()
        self.loader = DataLoader(
            Samples(data, seed, train), batch_sampler=self.sampler, num_workers=workers, collate_fn=collate,
            pin_memory=device.type == "cuda", persistent_workers=workers > 0,
            prefetch_factor=PREFETCH if workers else None,
            worker_init_fn=partial(seed_worker, seed) if workers else None,
            generator=torch.Generator().manual_seed(seed))  # never draws from the global RNG
        self.device = device

    def epoch(self, batches: list[list[int]], epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (x, y) on the device for each batch of sample indices, in order."""
        self.sampler.batches = [[(int(i), epoch) for i in batch] for batch in batches]
        blocking = self.device.type != "cuda"
        for batch in self.loader:
            if isinstance(batch, Failure):
                raise DataError(batch.issue)
            x, y = batch
            yield x.to(self.device, non_blocking=not blocking), y.to(self.device, non_blocking=not blocking)


def in_order(data: Any, device: torch.device, batch_size: int,
             loader: LazyBatches | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every sample once, in order, without augmentation: what Evaluate and Predict score."""
    n = len(data)
    if not data.lazy:
        for start in range(0, n, batch_size):
            yield data.x[start:start + batch_size].to(device), data.y[start:start + batch_size].to(device)
        return
    loader = loader or LazyBatches(data, 0, False, auto_workers(data, -1), device)
    yield from loader.epoch([list(range(s, min(s + batch_size, n))) for s in range(0, n, batch_size)], 0)
