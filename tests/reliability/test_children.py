"""NodeFlow's child processes never import from their working directory.

A working directory holds a node pack declared by a `*.dist-info` folder, a `nodes` package
and a `nodeflow` package, each of which writes a marker file when imported. The editor's runs,
`sweep --jobs` workers, `run --nproc` ranks and `python -m nodeflow` typed by hand all start
there, work, and leave no marker.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, WORKFLOWS, events
from tests.sweeps.conftest import load, small_workflow

WRITE_MARKER = "import pathlib; pathlib.Path({marker!r}).open('a').write({name!r} + '\\n')\n"


def hostile_folder(folder: Path, marker: Path, with_nodeflow: bool = True) -> Path:
    """A working directory whose code, imported, writes its name to `marker`."""
    folder.mkdir()
    info = folder / "evil_pack-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-pack\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nodeflow.nodes]\nevil = evil_pack\n")
    (folder / "evil_pack.py").write_text(WRITE_MARKER.format(marker=str(marker), name="evil_pack") + "NODES = []\n")
    packages = ["nodes", "nodeflow"] if with_nodeflow else ["nodes"]
    for name in packages:
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(WRITE_MARKER.format(marker=str(marker), name=name))
    if with_nodeflow:
        (folder / "nodeflow" / "__main__.py").write_text(WRITE_MARKER.format(marker=str(marker), name="main"))
    return folder


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "imported_from_the_working_directory.txt"


def test_the_hostile_folder_is_imported_by_a_plain_python_there(tmp_path: Path, marker: Path) -> None:
    """The folder the other tests start in does what it claims: Python's default path imports it."""
    folder = hostile_folder(tmp_path / "cwd", marker)
    code = "import importlib.metadata as m; [e.load() for e in m.entry_points(group='nodeflow.nodes')]; import nodes"
    subprocess.run([sys.executable, "-c", code], cwd=folder, check=True, timeout=60)
    assert marker.read_text().split() == ["evil_pack", "nodes"]


def test_a_run_started_as_the_editor_starts_it_imports_nothing_from_its_folder(tmp_path: Path,
                                                                              marker: Path) -> None:
    runner = pytest.importorskip("nodeflow.gui.runner")  # QtCore only: no window, no application
    folder = hostile_folder(tmp_path / "cwd", marker)
    program, argv = runner.child_command(["run", str(WORKFLOWS / "wine_mlp.json"), "--events", "jsonl",
                                          "--set", "Trainer.epochs=1", "--set", "Trainer.checkpoint_dir=ck"])
    qt_env = runner.child_environment()
    env = {name: qt_env.value(name) for name in qt_env.keys()}
    done = subprocess.run([program, *argv], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert events(done.stdout)[-1]["status"] == "completed"
    assert (folder / "ck" / "final_model.pt").is_file()
    assert not marker.exists(), marker.read_text()


def test_sweep_jobs_workers_import_nothing_from_their_folder(tmp_path: Path, marker: Path) -> None:
    folder = hostile_folder(tmp_path / "cwd", marker)
    wine = small_workflow(folder, epochs=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "sweep", str(wine), "--param",
                           "Trainer.lr=loguniform:1e-4:3e-2", "--pruner", "none", "--trials", "3", "--jobs", "2"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Sweep 'wine'") == 2, done.stdout  # the worker started and opened the study too
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert all(t.state.name == "COMPLETE" for t in load(folder).trials)
    assert not marker.exists(), marker.read_text()


def test_nproc_ranks_import_nothing_from_their_folder(tmp_path: Path, marker: Path) -> None:
    folder = hostile_folder(tmp_path / "cwd", marker)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", str(WORKFLOWS / "wine_mlp.json"),
                           "--nproc", "2", "--set", "Trainer.epochs=1", "--set", "Trainer.checkpoint_dir=ck"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (folder / "ck" / "final_model.pt").is_file()
    assert not marker.exists(), marker.read_text()


def test_python_m_nodeflow_typed_by_hand_ignores_node_packs_in_its_folder(tmp_path: Path, marker: Path) -> None:
    """`python -m nodeflow` (or `torchrun -m nodeflow`) without -P: Python put the folder on the path."""
    folder = hostile_folder(tmp_path / "cwd", marker, with_nodeflow=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "nodeflow", "nodes"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "train.trainer  Trainer" in done.stdout
    assert not marker.exists(), marker.read_text()
