"""Can Qt open a window here? Asked in a child process, since Qt aborts the process when its
platform plugin cannot load (a missing system library, a display that does not answer).

Standard library only: `main.py` asks before it imports Qt, and falls back to a headless run.
"""
from __future__ import annotations

import ctypes.util
import subprocess
import sys

# Debian package -> library, for Qt 6's xcb platform plugin (Qt's own list of xcb requirements).
XCB_LIBRARIES = {
    "libxcb-cursor0": "xcb-cursor", "libxcb-icccm4": "xcb-icccm", "libxcb-image0": "xcb-image",
    "libxcb-keysyms1": "xcb-keysyms", "libxcb-randr0": "xcb-randr", "libxcb-render-util0": "xcb-render-util",
    "libxcb-shape0": "xcb-shape", "libxcb-xfixes0": "xcb-xfixes", "libxcb-xkb1": "xcb-xkb",
    "libxkbcommon-x11-0": "xkbcommon-x11", "libx11-xcb1": "X11-xcb", "libegl1": "EGL",
    "libfontconfig1": "fontconfig", "libdbus-1-3": "dbus-1",
}
PROBE = "from PySide6.QtWidgets import QApplication; QApplication([])"


def missing_packages() -> list[str]:
    return [package for package, library in XCB_LIBRARIES.items() if ctypes.util.find_library(library) is None]


def qt_start_problem(timeout: float = 30) -> str | None:
    """One line saying why the editor cannot open a window here, or None when it can."""
    try:
        probe = subprocess.run([sys.executable, "-P", "-c", PROBE], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"Qt did not start within {timeout:.0f} s"
    if probe.returncode == 0:
        return None
    missing = missing_packages()
    if missing:
        return (f"Qt cannot load its platform plugin: missing system libraries; install them with "
                f"`apt-get install {' '.join(missing)}`")
    lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
    reason = next((line for line in lines if "could not connect" in line.lower()), lines[0] if lines else "")
    return f"Qt cannot open a window here: {reason or f'exit code {probe.returncode}'}"
