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
                             "nodeflow.cli, nodeflow.console, nodeflow.cli_ckpt, nodeflow.training.plots, nodes; "
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


# the checkpoint package sits below the training loop: it may use nodeflow.core, nothing above it
ABOVE_CHECKPOINTS = ("nodeflow.training", "nodes", "nodeflow.cli", "nodeflow.gui", "nodeflow.sweep", "nodeflow.api",
                     "nodeflow.launch", "nodeflow.runs", "nodeflow.console")
# what the editor reads in its own process: manifests, layouts, scans, tags, which file to resume
NO_TORCH = ("manifest", "layout", "run_folder", "run_request", "folder_state", "folder_names", "backups", "peek",
            "scan", "resume", "yaml_block")


def imported_names(path) -> list[str]:
    """Every module an `import`/`from` in the file names, function-level imports included."""
    import ast

    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_the_checkpoint_package_imports_nothing_above_it() -> None:
    files = sorted((ROOT / "nodeflow" / "checkpoints").glob("*.py"))
    offenders = [f"{path.name}: {name}" for path in files for name in imported_names(path)
                 if name.startswith(ABOVE_CHECKPOINTS) and name.split(".")[:2] != ["nodeflow", "checkpoints"]]
    assert len(files) > 10 and not offenders


def test_reading_checkpoint_folders_loads_no_torch() -> None:
    modules = loaded_modules("from nodeflow.checkpoints import " + ", ".join(NO_TORCH) + "\n"
                             "import nodeflow.checkpoints")
    assert "nodeflow.checkpoints.scan" in modules and "torch" not in modules
    # the public API still comes from the package itself, loading torch only then
    modules = loaded_modules("from nodeflow.checkpoints import CheckpointManager, CheckpointConfig\n"
                             "assert CheckpointManager.__module__ == 'nodeflow.checkpoints.manager'")
    assert "torch" in modules
