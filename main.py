"""NodeFlow entry point.

`python main.py [WORKFLOW]` opens the editor (`--screenshot OUT.png` renders it offscreen and
exits); with no display it runs the workflow headless instead. `python main.py run|validate|
nodes|devices|ckpt ...` is the same as the `nodeflow` command.
"""
import os
import sys
from pathlib import Path

from nodeflow.cli import COMMANDS, main

EXAMPLE = str(Path(__file__).parent / "workflows" / "digits_cnn.json")


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM") or sys.platform in ("win32", "darwin"))


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and (args[0] in COMMANDS or args[0] in ("-h", "--help")):
        sys.exit(main(args))
    workflow = next((a for a in args if not a.startswith("-")), EXAMPLE)
    if "--screenshot" in args or has_display():
        from nodeflow.gui.qt_check import qt_start_problem

        problem = None if "--screenshot" in args else qt_start_problem()
        if problem is None:
            from nodeflow.gui.app import launch

            sys.exit(launch(args, default_workflow=EXAMPLE))
        print(f"{problem}. Running {workflow} headless instead.", file=sys.stderr)
    else:
        print(f"No display found: running {workflow} headless (the editor needs a display).", file=sys.stderr)
    sys.exit(main(["run", workflow]))
