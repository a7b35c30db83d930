"""Starting the editor: `python main.py [WORKFLOW]`, or `--screenshot OUT.png` to render offscreen and exit."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from nodeflow.core import default_registry
from nodeflow.gui import help_menu
from nodeflow.gui.errors import ErrorReporter
from nodeflow.gui.runner import abandon_tools
from nodeflow.gui.window import MainWindow


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="Open the NodeFlow editor.")
    parser.add_argument("workflow", nargs="?", help="workflow file to open")
    parser.add_argument("--screenshot", metavar="OUT.png", help="render the window offscreen to a PNG and exit")
    parser.add_argument("--size", default="1440x900", help="window size for --screenshot (default 1440x900)")
    return parser


def make_window(workflow: str | None = None, settings: QtCore.QSettings | None = None) -> MainWindow:
    settings = settings or QtCore.QSettings("NodeFlow", "NodeFlow")
    window = MainWindow(default_registry(), settings, Path.cwd())
    if workflow:
        window.open_path(Path(workflow))
    return window


def screenshot(window: QtWidgets.QWidget, out: Path, size: str) -> None:
    width, height = (int(v) for v in size.lower().split("x"))
    window.resize(width, height)
    window.show()
    for _ in range(10):
        QtWidgets.QApplication.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))


def run_until(done: Callable[[], bool], seconds: float) -> None:
    """Run the event loop (as the editor does) until `done()` or `seconds` pass."""
    loop = QtCore.QEventLoop()
    check = QtCore.QTimer()
    check.timeout.connect(lambda: done() and loop.quit())
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    check.start(50)
    if not done():
        loop.exec()
    check.stop()


def launch(argv: Sequence[str], default_workflow: str | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.workflow = args.workflow or default_workflow
    if args.screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    app.setApplicationName("NodeFlow")
    window = make_window(args.workflow)
    ErrorReporter(window).install()
    if args.workflow and window.meta.path is None:
        print(f"error: {window.banner.text.text()}", file=sys.stderr)
        if args.screenshot:
            return 2
    if args.screenshot:
        screenshot(window, Path(args.screenshot), args.size)
        abandon_tools(window)
        print(f"wrote {args.screenshot}")
        return 0
    window.show()
    help_menu.first_run_hint(window)
    return app.exec()
