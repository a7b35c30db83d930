"""How late the editor's event loop runs, idle and while a workflow trains in the child process.

Used by benchmarks/editor_latency.py: a 10 ms timer ticks in the real event loop and each
tick's lateness is recorded.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from nodeflow.gui import editing
from nodeflow.gui.app import make_window, run_until
from nodeflow.gui.runner import abandon_tools

TICK_MS = 10


def lateness(keep_going: Callable[[], bool], seconds: float) -> list[float]:
    """Milliseconds each 10 ms tick arrived late, for `seconds` or until `keep_going()` is false."""
    late: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        late.append(max(0.0, (now - last[0]) * 1000 - TICK_MS))
        last[0] = now

    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    timer.start(TICK_MS)
    run_until(lambda: not keep_going(), seconds)
    timer.stop()
    return late[1:]


def measure_run(example: Path, epochs: int, tab: str) -> tuple[list[float], list[float], list[str]]:
    """(idle lateness, lateness while `example` trains for `epochs` with `tab` shown, event names)."""
    QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    work = Path(tempfile.mkdtemp(prefix="nodeflow-latency-"))
    os.environ["NODEFLOW_HOME"] = str(work / "home")  # its run stays out of ~/.nodeflow/runs
    os.chdir(work)
    shutil.copy(example, work / example.name)
    window = make_window(str(work / example.name),
                         QtCore.QSettings(str(work / "s.ini"), QtCore.QSettings.Format.IniFormat))
    window.show()
    trainer = next(n for n in window.graph.all_nodes() if n.name() == "Trainer")
    editing.set_params(window.graph, trainer, {"epochs": epochs, "save_every_n_epochs": 1})
    idle = lateness(lambda: True, 5)
    events: list[str] = []
    window.runs.process.event.connect(lambda e: events.append(e["event"]))
    window.runs.run()
    window.runs.panel.tabs.setCurrentWidget(getattr(window.runs.panel, tab))
    busy = lateness(window.runs.process.running, 600)
    abandon_tools(window)
    window.undo.setClean()
    window.close()
    return idle, busy, events
