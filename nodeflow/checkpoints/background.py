"""Checkpoint saves off the training thread: a CPU snapshot of the state, then one background writer.

The training thread blocks only for `snapshot` (device→CPU copies of the tensors, into the
previous save's buffers); a single writer thread serializes, fsyncs, renames and commits the
manifest entry. At most one save is in flight: the next waits for it. The writer's error, or
the events it produced, come back to the training thread at the next `poll` or `wait`, so
emitting stays on one thread.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import torch

Events = list[tuple[str, dict[str, Any]]]


def snapshot(obj: Any, reuse: Any = None, memo: dict[tuple, torch.Tensor] | None = None) -> Any:
    """A copy of `obj` whose tensors are detached CPU copies; containers are rebuilt, other values
    (numbers, strings) shared. Later optimizer steps cannot change what the copy holds.

    `reuse`: the previous snapshot of the same state, whose tensors are written over where shape
    and dtype match (no fresh pages to fault in at every save). Views of one tensor (tied
    weights) stay one tensor in the copy."""
    memo = {} if memo is None else memo
    if isinstance(obj, torch.Tensor):
        obj = obj.detach()
        key = (obj.device, obj.untyped_storage().data_ptr(), obj.storage_offset(), tuple(obj.shape),
               tuple(obj.stride()), obj.dtype)
        if key not in memo:
            fits = isinstance(reuse, torch.Tensor) and reuse.shape == obj.shape and reuse.dtype == obj.dtype \
                and reuse.device.type == "cpu" and reuse.is_contiguous() and obj.layout == torch.strided
            memo[key] = reuse.copy_(obj) if fits else obj.to("cpu", copy=True)
        return memo[key]
    if isinstance(obj, dict):
        old = reuse if isinstance(reuse, dict) else {}
        return {k: snapshot(v, old.get(k), memo) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        olds = reuse if isinstance(reuse, type(obj)) and len(reuse) == len(obj) else [None] * len(obj)
        return type(obj)(snapshot(v, r, memo) for v, r in zip(obj, olds))
    return obj


class BackgroundWriter:
    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._events: Events = []
        self._error: BaseException | None = None
        self._copy: Any = None  # the last snapshot: its buffers are reused by the next

    def save(self, state: dict[str, Any], job: Callable[[dict[str, Any]], Events]) -> Events:
        """Wait for the save in flight, copy `state` to CPU (into that save's buffers), then start
        `job(copy)` on the writer thread. Returns the previous save's events."""
        events = self.wait()
        frozen = self._copy = snapshot(state, self._copy)  # all the training thread waits for
        # not a daemon: the interpreter waits for a save in flight before it exits
        self._thread = threading.Thread(target=self._run, args=(lambda: job(frozen),),
                                        name="nodeflow-checkpoint-writer")
        self._thread.start()
        return events

    def _run(self, job: Callable[[], Events]) -> None:
        time.sleep(0)  # hand the GIL straight back: the training thread returns from save() first
        try:
            self._events = job()
        except BaseException as exc:  # handed to the training thread
            self._error = exc

    def poll(self) -> Events:
        """The finished save's events (raising its error), or [] while it is still writing."""
        if self._thread is not None and self._thread.is_alive():
            return []
        return self.wait()

    def wait(self) -> Events:
        """Wait for the save in flight; return its events or raise its error."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        events, error = self._events, self._error
        self._events, self._error = [], None
        if error is not None:
            raise error
        return events
