"""Headless imports never load Qt; the core does not even load torch."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

QT_PREFIXES = ("PySide6", "PyQt5", "PyQt6", "NodeGraphQt", "Qt", "shiboken6", "matplotlib.backends.backend_qt")


def loaded_modules(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_headless_packages_load_no_qt() -> None:
    modules = loaded_modules("import nodeflow.core, nodeflow.training.loop, nodeflow.training.callbacks, "
                             "nodeflow.cli, nodeflow.console, nodes; nodeflow.core.default_registry()")
    assert "torch" in modules  # the nodes really were imported
    assert not [m for m in modules if m.split(".")[0] in QT_PREFIXES or m.startswith(QT_PREFIXES)]


def test_core_loads_without_torch() -> None:
    modules = loaded_modules("import nodeflow.core, nodeflow.core.reference")
    assert "torch" not in modules
    assert "numpy" not in modules
