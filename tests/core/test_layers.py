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
                             "nodeflow.cli, nodeflow.console, nodeflow.ckpt_commands, nodeflow.training.plots, nodes; "
                             "nodeflow.core.default_registry()")
    assert "torch" in modules  # the nodes really were imported
    assert not [m for m in modules if m.split(".")[0] in QT_PREFIXES or m.startswith(QT_PREFIXES)]


def test_core_loads_without_torch() -> None:
    modules = loaded_modules("import nodeflow.core, nodeflow.core.reference")
    assert "torch" not in modules
    assert "numpy" not in modules


def test_only_the_gui_package_imports_qt() -> None:
    offenders = []
    for path in [*ROOT.glob("nodeflow/**/*.py"), *ROOT.glob("nodes/**/*.py"), ROOT / "main.py"]:
        if "gui" in path.relative_to(ROOT).parts[:2]:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.strip().split()
            if words[:1] in (["import"], ["from"]) and words[1].split(".")[0] in QT_PREFIXES:
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not offenders
    assert (ROOT / "nodeflow" / "gui" / "window.py").is_file()  # the scan really skipped an existing package
