"""Files written by someone else: a checkpoint that names code, a forged manifest.json, a broken
node pack. Each is refused in one line (exit 2) or left out with one warning; nothing runs,
nothing outside the checkpoint folder changes, every other command keeps working."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nodeflow.checkpoints import CheckpointManager
from nodeflow.core.errors import CheckpointError
from nodeflow.checkpoints.manifest import remove_checkpoints
from nodeflow.checkpoints.resume import set_aside
from nodeflow.checkpoints.run_folder import move_aside
from tests.conftest import ROOT, WORKFLOWS, run_cli

DIGITS = str(WORKFLOWS / "digits_cnn.json")
EVIL = '''
from pathlib import Path
Path({marker!r}).write_text("the code ran")
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)
'''


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def cli(*args: str, cwd: Path, path: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m nodeflow ARGS` in a child process (with `path` first on PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (path, str(ROOT)) if p)}
    return subprocess.run([sys.executable, "-m", "nodeflow", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def code_checkpoint(path: Path, model: dict) -> Path:
    """A weights-only checkpoint, as anyone can write one, whose config names a PythonModel."""
    weights = {f"layer.{k}": v for k, v in torch.nn.Linear(2, 2).state_dict().items()}
    torch.save({"epoch": 1, "model_state_dict": weights, "config": {"model": {"type": "model.python", **model}}},
               path)
    return path


def load_workflow_file(folder: Path, checkpoint: Path) -> Path:
    doc = {"format": "nodeflow.workflow", "version": 1, "name": "load",
           "nodes": {"load": {"type": "model.load_checkpoint", "name": "LoadCheckpoint", "version": 1,
                              "params": {"path": str(checkpoint)}}}, "links": []}
    (folder / "load.json").write_text(json.dumps(doc))
    return folder / "load.json"


@pytest.fixture
def evil_file(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(checkpoint, the .py file it names, the marker that file writes when it runs)."""
    marker, code = tmp_path / "MARKER", tmp_path / "elsewhere" / "evil.py"
    code.parent.mkdir()
    code.write_text(EVIL.format(marker=str(marker)))
    checkpoint = code_checkpoint(tmp_path / "ck.pt", {"params": {"target": "evil.py:Net"}, "source": str(code)})
    return checkpoint, code, marker


def test_a_checkpoint_naming_a_python_file_runs_nothing_without_trust(tmp_path: Path, evil_file) -> None:
    checkpoint, code, marker = evil_file
    refused = cli("generate", str(checkpoint), cwd=tmp_path)
    assert refused.returncode == 2 and not marker.exists()
    assert lines(refused.stderr) == [f"error: {checkpoint}: not loaded: rebuilding its model runs the Python file "
                                     f"{code.resolve()}; allow it only if you trust that code (--trust on the "
                                     "command line, trust_code=True in Python or on LoadCheckpoint)"]
    workflow = load_workflow_file(tmp_path, checkpoint)
    node = cli("run", str(workflow), cwd=tmp_path)
    assert node.returncode == 2 and not marker.exists()
    assert "node 'LoadCheckpoint'" in node.stderr and str(code.resolve()) in node.stderr
    assert len(lines(node.stderr)) == 1 and "Traceback" not in node.stderr
    events = [json.loads(line) for line in cli("run", str(workflow), "--events", "jsonl", cwd=tmp_path).stdout
              .splitlines() if line.startswith("{")]
    error = next(e for e in events if e["event"] == "error")  # what the editor reads to ask the user
    assert error["node"] == "LoadCheckpoint" and not marker.exists()
    assert error["untrusted_code"] == {"checkpoint": str(checkpoint), "source": str(code.resolve()), "kind": "file"}
    api = subprocess.run([sys.executable, "-c", (
        "import sys, nodeflow\nfrom nodeflow.core import UntrustedCodeError\n"
        "try:\n    nodeflow.restore_model(sys.argv[1])\n"
        "except UntrustedCodeError as exc:\n    print(exc.kind, exc.source, exc.checkpoint)\n"), str(checkpoint)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert api.stdout.split() == ["file", str(code.resolve()), str(checkpoint)], api.stderr
    assert not marker.exists()
    trusted = cli("run", str(workflow), "--set", "LoadCheckpoint.trust_code=true", cwd=tmp_path)
    assert trusted.returncode == 0, trusted.stderr
    assert marker.read_text() == "the code ran"  # said yes: it runs, as before


def test_generate_with_trust_runs_the_named_file(tmp_path: Path, evil_file) -> None:
    checkpoint, _, marker = evil_file
    done = cli("generate", str(checkpoint), "--trust", cwd=tmp_path)
    assert marker.exists()  # the code ran; the model cannot generate text, which is the next line
    assert done.returncode == 2 and "cannot generate text" in done.stderr


def test_a_relative_file_without_a_saved_path_is_named_by_its_absolute_path(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    (tmp_path / "net.py").write_text(EVIL.format(marker=str(marker)))
    checkpoint = code_checkpoint(tmp_path / "ck.pt", {"params": {"target": "net.py:Net"}})
    refused = cli("generate", "ck.pt", cwd=tmp_path)
    assert refused.returncode == 2 and not marker.exists()
    assert f"runs the Python file {(tmp_path / 'net.py').resolve()};" in refused.stderr
    assert checkpoint.exists()


def test_a_checkpoint_naming_a_module_imports_nothing_without_trust(tmp_path: Path) -> None:
    marker, packages = tmp_path / "MARKER", tmp_path / "site"
    packages.mkdir()
    (packages / "innocent_looking.py").write_text(EVIL.format(marker=str(marker)))
    checkpoint = code_checkpoint(tmp_path / "ck.pt", {"params": {"target": "innocent_looking:Net"}})
    refused = cli("generate", str(checkpoint), cwd=tmp_path, path=str(packages))
    assert refused.returncode == 2 and not marker.exists()
    assert lines(refused.stderr) == [f"error: {checkpoint}: not loaded: rebuilding its model runs the Python module "
                                     "'innocent_looking' (imported); allow it only if you trust that code (--trust "
                                     "on the command line, trust_code=True in Python or on LoadCheckpoint)"]
    workflow = load_workflow_file(tmp_path, checkpoint)
    assert cli("run", str(workflow), cwd=tmp_path, path=str(packages)).returncode == 2 and not marker.exists()
    cli("generate", str(checkpoint), "--trust", cwd=tmp_path, path=str(packages))
    assert marker.exists()


# --- a forged manifest.json ---------------------------------------------------------------

HOSTILE = ["../victim.txt", "ABSOLUTE", "a/b", "..", "", "nul\x00.pt", "..\\victim.txt"]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def forged_folder(tmp_path: Path, name: str) -> tuple[Path, str]:
    """ck/ with a real checkpoint and a manifest whose other entry is `name`; victims wherever it points."""
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("must survive")
    name = str(victim) if name == "ABSOLUTE" else name
    folder = tmp_path / "ck"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "b").write_text("must survive")
    (tmp_path / "victim.txt").write_text("must survive")
    manager = CheckpointManager.open(folder, backup_checkpoints=False)
    manager.save_checkpoint(torch.nn.Linear(2, 2), epoch=1, step=1, metrics={"val_loss": 1.0})
    doc = json.loads((folder / "manifest.json").read_text())
    real = next(iter(doc["checkpoints"].values()))
    doc["checkpoints"][name] = {**real, "kind": "periodic", "is_best": False, "step": 0, "tags": []}
    (folder / "manifest.json").write_text(json.dumps(doc))
    return folder, name


@pytest.mark.parametrize("name", HOSTILE)
def test_a_manifest_naming_anything_but_a_plain_file_is_refused_and_nothing_changes(tmp_path: Path,
                                                                                     name: str) -> None:
    folder, name = forged_folder(tmp_path, name)
    real = next(p.name for p in folder.glob("*.pt"))
    before = snapshot(tmp_path)
    commands = [("ckpt", "prune", "ck", "--keep", "0"), ("ckpt", "delete", f"ck/{real}"), ("ckpt", "list", "ck")]
    if name in HOSTILE[:2] or name.startswith("/"):  # every other reader, for a name that leaves the folder
        commands += [("ckpt", "show", f"ck/{real}"), ("ckpt", "verify", "ck"), ("ckpt", "summary", "ck"),
                     ("ckpt", "tag", f"ck/{real}", "--add", "keep"), ("ckpt", "restore-backup", f"ck/{real}"),
                     ("run", DIGITS, "--set", "Trainer.checkpoint_dir=ck", "--set", "Trainer.max_checkpoints=1",
                      "--set", "Trainer.epochs=1", "--resume", "auto"),  # retention would prune through it
                     ("run", DIGITS, "--set", "Trainer.checkpoint_dir=ck", "--set", "Trainer.epochs=1",
                      "--overwrite")]  # overwrite would move its files to previous/
    for command in commands:
        done = run_cli(*command, cwd=tmp_path)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert len(lines(done.stderr)) == 1 and "Traceback" not in done.stderr, (command, done.stderr)
        assert f"refused: entry {name!r} is not a plain file name" in done.stderr, (command, done.stderr)
        assert snapshot(tmp_path) == before, command  # nothing deleted, moved or written
    with pytest.raises(CheckpointError, match="refused: entry"):  # the API: retention on a save
        CheckpointManager.open(folder, max_checkpoints=1).save_checkpoint(torch.nn.Linear(2, 2), epoch=2, step=2)
    assert snapshot(tmp_path) == before
    scan = run_cli("ckpt", "scan", ".", cwd=tmp_path)  # the library lists the folder's files as refused
    assert scan.returncode == 0 and f"✗ refused: entry {name!r}" in scan.stdout


def test_a_run_id_that_is_a_path_is_refused(tmp_path: Path) -> None:
    folder, _ = forged_folder(tmp_path, "plain_name.pt")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["run"]["id"] = "../../escaped"
    (folder / "manifest.json").write_text(json.dumps(doc))
    before = snapshot(tmp_path)
    done = run_cli("run", DIGITS, "--set", "Trainer.checkpoint_dir=ck", "--set", "Trainer.epochs=1", "--overwrite",
                   cwd=tmp_path)
    assert done.returncode == 2 and "refused: run id '../../escaped'" in done.stderr
    assert snapshot(tmp_path) == before and not (tmp_path / "escaped").exists()


def test_every_deleter_and_mover_refuses_a_target_outside_its_folder(tmp_path: Path) -> None:
    """The second line of defence, for names that never passed through a manifest."""
    folder = tmp_path / "ck"
    folder.mkdir()
    (tmp_path / "victim.pt").write_text("must survive")
    manager = CheckpointManager.open(folder)
    for attempt in (lambda: remove_checkpoints(folder, ["ok.pt", "../victim.pt"]),
                    lambda: set_aside(folder, "../victim.pt"),
                    lambda: move_aside(folder, "../../escaped"),
                    lambda: manager.save_file("../victim.pt", {"epoch": 1, "step": 1, "model_state_dict": {}},
                                              "periodic")):
        with pytest.raises(CheckpointError, match="outside its folder"):
            attempt()
    assert (tmp_path / "victim.pt").read_text() == "must survive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "victim.pt"]


# --- a broken node pack -------------------------------------------------------------------

def install_pack(site: Path, module: str, code: str) -> None:
    """A pack as pip installs one: the module and its dist-info with the entry point."""
    (site / f"{module}.py").write_text(code)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[nodeflow.nodes]\n{module} = {module}\n")


@pytest.mark.parametrize("code, error", [
    ("raise RuntimeError('broken on purpose')\n", "RuntimeError: broken on purpose"),
    ("from nodeflow.core import NodeSpec, PortSpec\nNODES = [NodeSpec('x.y', 'Y', 'C', lambda c, i, p: {}, "
     "inputs=(PortSpec('in', 'no_such_port_type'),))]\n", "ValueError: x.y: port 'in' has unknown type"),
])
def test_a_broken_node_pack_is_one_warning_and_everything_else_works(tmp_path: Path, code: str, error: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_pack(site, "broken_pack", code)
    warning = f"warning: node pack 'broken-pack' (broken_pack = broken_pack) did not load ({error}"
    for command in (("nodes",), ("validate", DIGITS)):
        done = cli(*command, cwd=tmp_path, path=str(site))
        assert done.returncode == 0, (command, done.stderr)
        assert len(lines(done.stderr)) == 1 and lines(done.stderr)[0].startswith(warning), done.stderr
    workflow = json.loads(Path(DIGITS).read_text())
    next(n for n in workflow["nodes"].values() if n["type"] == "model.cnn")["type"] = "broken_pack.net"
    (tmp_path / "uses_pack.json").write_text(json.dumps(workflow))
    done = cli("validate", "uses_pack.json", cwd=tmp_path, path=str(site))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert lines(done.stderr)[0].startswith(warning)
    assert lines(done.stderr)[1].startswith("error: uses_pack.json: node 'CNN' field 'type': unknown node type "
                                            "'broken_pack.net'; it may come from a node pack that did not load "
                                            "('broken-pack' (broken_pack = broken_pack): ")
