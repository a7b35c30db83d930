"""Renders run events for people (the "Epoch [1/20], Loss: …" and "✓ Saved …" lines, a progress bar) or
programs (JSON lines)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from nodeflow.checkpoints.manifest import size_text
from nodeflow.core.printable import printable
from nodeflow.core.text import checkpoint_line, early_stop_line, epoch_line, metrics_line


def clock(seconds: float) -> str:
    """4.2 s, 3:05 or 1:02:03."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}" if whole >= 3600 else \
        f"{whole // 60}:{whole % 60:02d}"


LAST_RUN = "(last run) "  # marks the results of a node that was not run again, shown from the cache


def shown(path: str) -> str:
    """`path` relative to the current folder when it lies inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith("..") else relative


def safe(value: Any) -> Any:
    """`value` with control characters escaped in every string in it (names, paths and messages come
    from files and user data: a class named "\x1b[2J" must not clear the terminal). Newlines stay:
    a log message may span lines."""
    if isinstance(value, str):
        return printable(value, newlines=True)
    if isinstance(value, dict):
        return {safe(k): safe(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(safe(v) for v in value)
    return value


def jsonl_sink(stream: TextIO = sys.stdout) -> Any:
    def sink(event: dict[str, Any]) -> None:
        stream.write(json.dumps(event, default=str) + "\n")
        stream.flush()

    return sink


class Console:
    """Event sink printing the console lines (epochs, checkpoints saved, results); a tqdm bar on a terminal."""

    def __init__(self, out: TextIO = sys.stdout, bar_stream: TextIO | None = None, bar: type[tqdm] | None = None):
        """`bar`: a tqdm class that draws the bar even where `bar_stream` is no terminal (tqdm.auto's:
        a widget in a notebook); without it the bar shows only on a terminal."""
        self.out = out
        self.bar_class = bar or tqdm
        self.bar_stream = bar_stream if bar_stream is not None and (bar or bar_stream.isatty()) else None
        self.bar: tqdm | None = None
        self.final_saved = False

    def print(self, text: str) -> None:
        self._close_bar()
        print(text, file=self.out, flush=True)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __call__(self, event: dict[str, Any]) -> None:
        handler = getattr(self, "on_" + str(event["event"]), None)
        if handler:
            handler(safe(event))

    def on_log(self, e: dict[str, Any]) -> None:
        self.print(f"[{e['node']}] {LAST_RUN if e.get('reused') else ''}{e['message']}")

    def on_fit_start(self, e: dict[str, Any]) -> None:
        if e["checkpoint_dir"]:
            self.print(f"✓ Checkpoints will be saved to: {e['checkpoint_dir']}")
        else:
            self.print("Checkpoints disabled (checkpoint_dir is empty)")
        val = f", {e['val_size']} validation" if e["val_size"] else ""
        self.print(f"Training on {e['device']}: {e['train_size']} samples{val}, "
                   f"best model by {e['monitor']}\n")

    def on_batch_progress(self, e: dict[str, Any]) -> None:
        if self.bar_stream is None:
            return
        if self.bar is None:
            self.bar = self.bar_class(total=e["batches"], desc=f"Epoch {e['epoch']}/{e['epochs']}",
                                      file=self.bar_stream, leave=False, unit="batch")
        self.bar.n = e["batch"]
        self.bar.set_postfix(loss=f"{e['loss']:.4f}")

    def on_epoch_end(self, e: dict[str, Any]) -> None:
        self.print(epoch_line(e))

    def on_checkpoint_saved(self, e: dict[str, Any]) -> None:
        self.final_saved |= e["kind"] == "final"
        self.print(checkpoint_line(e))

    def on_checkpoint_deleted(self, e: dict[str, Any]) -> None:
        self.print(f"  ✗ Removed {Path(e['path']).name} ({e['reason']})")

    def on_resumed(self, e: dict[str, Any]) -> None:
        self.print(f"↻ Resuming from {e['path']} (epoch {e['epoch']}, step {e['step']})")
        for line in e["changes"]:
            self.print(f"  changed since that checkpoint: {line}")
        for line in e.get("applied", ()):
            self.print(f"  applied to the restored training state: {line}")

    def on_fit_end(self, e: dict[str, Any]) -> None:
        if e.get("stopped_early"):
            self.print(early_stop_line(e))
        if not self.final_saved:
            self.print("\n✓ Training complete.")

    def on_metrics(self, e: dict[str, Any]) -> None:
        self.print(metrics_line(e["node"], e["metrics"]) + (f" {LAST_RUN.strip()}" if e.get("reused") else ""))

    def on_node_outputs(self, e: dict[str, Any]) -> None:
        for port, text in e["outputs"].items():
            self.print(f"  {e['node']}.{port}: {text}")

    def on_node_reused(self, e: dict[str, Any]) -> None:
        needed = f" (needed by {', '.join(e['needed_by'])})" if e.get("needed_by") else ""
        if e["from"] == "cache":
            self.print(f"{e['node']}: unchanged, " + ("outputs of its last run reused" + needed if needed
                                                     else "not run again"))
        else:
            needed = f"; needed by {', '.join(e['needed_by'])}" if e.get("needed_by") else ""
            self.print(f"{e['node']}: reused, {e['what']} from {shown(e['from'])} (verified{needed})")

    def on_node_rerun(self, e: dict[str, Any]) -> None:
        if e.get("needed_by"):
            self.print(f"{e['node']}: run again (needed by {', '.join(e['needed_by'])})")
        else:
            self.print(f"{e['node']}: runs ({e['reason']})")

    def on_dry_run(self, e: dict[str, Any]) -> None:
        self.print(f"  {e['node']}: {e['parameters']:,} parameters, {size_text(e['weights_bytes'])} of weights "
                   f"(about {size_text(e['training_bytes'])} to train: weights, gradients, optimizer state) "
                   f"on {e['device']}")
        self.print(f"  {e['node']}: {e['seconds_per_batch'] * 1000:.1f} ms per batch × {e['batches']} batches → "
                   f"about {clock(e['epoch_seconds'])} per epoch, {clock(e['run_seconds'])} for "
                   f"{e['epochs']} epoch{'' if e['epochs'] == 1 else 's'}")
        if e.get("layers"):
            self.print(f"    {'layer':<28} {'type':<20} {'output shape':<18} {'parameters':>12}  training")
        for row in e.get("layers", []):
            self.print(f"    {row['layer']:<28} {row['type']:<20} {str(row['output']):<18} {row['parameters']:>12,}  "
                       f"{row.get('training', '')}".rstrip())

    def on_run_end(self, e: dict[str, Any]) -> None:
        self.print(f"Run {e['status']} in {e['seconds']:.1f}s")
