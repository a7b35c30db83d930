"""Is the editor responsive while it trains? Event-loop latency during a run vs. idle, same process.

    python benchmarks/editor_latency.py [--epochs 8] [--tab curves|console]

A 10 ms QTimer ticks in the editor's event loop; its lateness is measured first with the
editor idle (baseline), then while the digits example trains in the child process and its
events stream in. Prints median and 99th-percentile lateness and their ratios to the baseline.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6 import QtCore, QtWidgets  # noqa: E402

from nodeflow.gui import editing  # noqa: E402
from nodeflow.gui.app import make_window  # noqa: E402
from nodeflow.gui.runner import abandon_tools  # noqa: E402

TICK_MS = 10


def lateness(app: QtWidgets.QApplication, keep_going: object, seconds: float) -> list[float]:
    """Milliseconds each 10 ms tick arrived late, for `seconds` or while `keep_going()`."""
    late: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        late.append(max(0.0, (now - last[0]) * 1000 - TICK_MS))
        last[0] = now

    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    loop = QtCore.QEventLoop()
    check = QtCore.QTimer()
    check.timeout.connect(lambda: None if keep_going() else loop.quit())
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    timer.start(TICK_MS)
    check.start(100)
    loop.exec()  # the editor's real event loop, as a user has it
    timer.stop()
    check.stop()
    return late[1:]


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--tab", choices=("console", "curves"), default="curves", help="run-panel tab shown")
    args = parser.parse_args()
    app = QtWidgets.QApplication([])
    work = Path(tempfile.mkdtemp(prefix="nodeflow-latency-"))
    os.chdir(work)
    shutil.copy(ROOT / "workflows" / "digits_cnn.json", work / "digits.json")
    window = make_window(str(work / "digits.json"),
                         QtCore.QSettings(str(work / "s.ini"), QtCore.QSettings.Format.IniFormat))
    window.show()
    trainer = next(n for n in window.graph.all_nodes() if n.name() == "Trainer")
    editing.set_params(window.graph, trainer, {"epochs": args.epochs, "save_every_n_epochs": 1})
    idle = lateness(app, lambda: True, 5)
    events: list[str] = []
    window.runs.process.event.connect(lambda e: events.append(e["event"]))
    window.runs.run()
    window.runs.panel.tabs.setCurrentWidget(getattr(window.runs.panel, args.tab))
    busy = lateness(app, window.runs.process.running, 600)
    abandon_tools(window)
    window.undo.setClean()
    window.close()
    print(f"events received during the run: {len(events)} ({events.count('epoch_end')} epochs)")
    print(f"idle:    {len(idle):5d} ticks, median {statistics.median(idle):6.2f} ms late, p99 {p99(idle):6.2f} ms")
    print(f"running: {len(busy):5d} ticks, median {statistics.median(busy):6.2f} ms late, p99 {p99(busy):6.2f} ms, "
          f"max {max(busy):6.1f} ms")
    base_median, base_p99 = max(statistics.median(idle), 0.01), max(p99(idle), 0.01)
    print(f"ratio running/idle: median {statistics.median(busy) / base_median:.2f}x, p99 {p99(busy) / base_p99:.2f}x")


if __name__ == "__main__":
    main()
