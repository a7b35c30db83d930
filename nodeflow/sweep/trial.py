"""One trial as a normal run: what the run service (nodeflow.running) takes to be a sweep's trial.

The run prints through `sink`, its record in the run index carries `marks` (study and trial),
and `tap` sees every event before the record does: each epoch's monitored value goes to the
Optuna trial (`report`), and when the pruner says so, `stop` ends the run at that epoch's end
(the Trainer saves its interrupt checkpoint, so a pruned trial keeps its last state) and the
record says `pruned` instead of `interrupted`. Imports nothing heavy: the caller hands in the
Optuna trial.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Sink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Metric:
    """What a trial is scored on: `name` from the epoch_end events of `node` (any Trainer when empty)."""

    name: str
    node: str = ""

    def of(self, event: dict[str, Any]) -> float | None:
        if self.node and event.get("node") != self.node:
            return None
        value = (event.get("metrics") or {}).get(self.name)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class TrialRun:
    def __init__(self, trial: Any, metric: Metric, sink: Sink, marks: dict[str, Any], prune: bool = True):
        self.trial = trial  # an optuna.Trial: report() and should_prune()
        self.metric = metric
        self.sink = sink
        self.marks = marks
        self.prune = prune
        self.stop = threading.Event()
        self.value: float | None = None  # the metric at the last epoch reported
        self.epoch = 0
        self.epochs = 0
        self.pruned = False
        self.last_checkpoint = ""
        self.run_id = ""
        self.error = ""

    def tap(self, record: Sink) -> Sink:
        self.run_id = getattr(record, "record", {}).get("id", "")

        def tap(event: dict[str, Any]) -> None:
            kind = event["event"]
            if kind == "epoch_end":
                self._epoch_end(event)
            elif kind == "checkpoint_saved":
                self.last_checkpoint = str(event.get("path", ""))
            elif kind == "error":
                self.error = self.error or f"{event.get('node', '')}: {event.get('message', '')}"
            elif kind == "run_end" and self.pruned and event.get("status") == "interrupted":
                event = {**event, "status": "pruned", "pruned_after_epoch": self.epoch}
            record(event)

        return tap

    def _epoch_end(self, event: dict[str, Any]) -> None:
        value = self.metric.of(event)
        if value is None:
            return
        self.value, self.epoch, self.epochs = value, int(event.get("epoch", 0)), int(event.get("epochs", 0))
        self.trial.report(value, self.epoch)  # NaN: the median pruner prunes it
        # after the last epoch the value is final: nothing left to save by stopping
        if self.prune and self.epoch < self.epochs and not self.stop.is_set() and self.trial.should_prune():
            self.pruned = True
            self.stop.set()
