"""Does a run started from the editor take as long as the same run headless? Used by benchmarks/editor_run.py."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from nodeflow.gui.app import make_window, run_until
from nodeflow.gui.runner import abandon_tools, child_command


def editor_run_seconds(workflow: Path, work: Path, at_once: bool = False) -> float:
    """Wall time from pressing Run to the run's end, with the Checkpoints tab shown (its refreshes included).

    Run is pressed once the window's start-up helper (`nodeflow devices`) has finished, as a person would,
    or with `at_once` right after the window opens.
    """
    QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    os.chdir(work)
    window = make_window(str(workflow), QtCore.QSettings(str(work / "s.ini"), QtCore.QSettings.Format.IniFormat))
    window.show()
    window.runs.panel.tabs.setCurrentWidget(window.runs.panel.checkpoints)
    busy = QtCore.QProcess.ProcessState.NotRunning
    if not at_once:
        run_until(lambda: all(p.state() == busy for p in window.findChildren(QtCore.QProcess)), 60)  # `devices`
    ended: list[int] = []
    window.runs.process.ended.connect(lambda code, _: ended.append(code))
    start = time.perf_counter()
    window.runs.run()
    run_until(lambda: bool(ended), 600)
    seconds = time.perf_counter() - start
    assert ended == [0], f"the editor's run ended with {ended}"
    abandon_tools(window)
    window.undo.setClean()
    window.close()
    return seconds


def headless_run_seconds(workflow: Path, work: Path) -> float:
    """Wall time of the same child command the editor starts, run from a plain process."""
    program, argv = child_command(["run", str(workflow), "--events", "jsonl"])
    start = time.perf_counter()
    done = subprocess.run([program, *argv], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - start
