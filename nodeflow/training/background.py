"""Checkpoint saves off the training thread: a CPU snapshot of the state, then one background writer.

The training thread blocks only for `snapshot` (device→CPU copies of the tensors); a single
writer thread serializes, fsyncs, renames and commits the manifest entry. At most one save is
in flight: the next waits for it. The writer's error, or the events it produced, come back
to the training thread at the next `poll` or `wait`, so emitting stays on one thread.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

Events = list[tuple[str, dict[str, Any]]]


def snapshot(obj: Any) -> Any:
    """A copy of `obj` whose tensors are detached CPU copies; containers are rebuilt, other values
    (numbers, strings) shared. Later optimizer steps cannot change what the copy holds."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: snapshot(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(snapshot(v) for v in obj)
    return obj


class BackgroundWriter:
    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._events: Events = []
        self._error: BaseException | None = None

    def submit(self, job: Callable[[], Events]) -> Events:
        """Start `job` on the writer thread once the previous one is done; returns that one's events."""
        events = self.wait()
        # not a daemon: the interpreter waits for a save in flight before it exits
        self._thread = threading.Thread(target=self._run, args=(job,), name="nodeflow-checkpoint-writer")
        self._thread.start()
        return events

    def _run(self, job: Callable[[], Events]) -> None:
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
