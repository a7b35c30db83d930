"""Small leaks at the edges: error lines that echo a file's content, terminal escapes from data reaching
the console, files written private whatever the umask, and --force replacing things that are not files."""
from __future__ import annotations

import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nodeflow.cli import main
from nodeflow.console import Console
from tests.conftest import ROOT, run_cli
from tests.reliability.test_fuzz_workflows import TINY, cli

OLD_RUN = ROOT / "tests" / "fixtures" / "old_checkpoints" / "nodeflow"


def csv_workflow(folder: Path, path: str) -> str:
    doc = {"format": "nodeflow.workflow", "version": 1, "name": "csv", "links": [],
           "nodes": {"data": {"type": "data.csv", "name": "Data", "params": {"path": path}}}}
    (folder / "w.json").write_text(json.dumps(doc))
    return "w.json"


def test_a_csv_path_to_the_environment_is_refused_without_printing_it(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODEFLOW_TEST_SECRET", "hunter2-do-not-print")
    # a fresh interpreter: /proc/self/environ is the environment a process was started with
    done = run_cli("validate", csv_workflow(tmp_path, "/proc/self/environ"), cwd=tmp_path, fresh=True)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "not a header of column names" in done.stderr and "hunter2" not in done.stderr + done.stdout


def test_csv_header_errors_stay_short(tmp_path: Path) -> None:
    (tmp_path / "wide.csv").write_text(",".join(f"col{i}" for i in range(5000)) + "\n" + "1," * 4999 + "1\n")
    code, _, err = cli("validate", csv_workflow(tmp_path, "wide.csv"), cwd=tmp_path)
    assert code == 2 and "(columns: col0, col1," in err and "col19 and 4980 more)" in err and len(err) < 600, err
    (tmp_path / "long.csv").write_text("a" * 10_000_000 + "\n1\n")  # one 10 MB "column name"
    code, _, err = cli("validate", csv_workflow(tmp_path, "long.csv"), cwd=tmp_path)
    assert code == 2 and "first row is longer than 64 KiB" in err and len(err) < 400, err


def test_an_error_line_is_cut_to_a_readable_length(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(TINY))
    doc["nodes"]["trainer"]["name"] = "\x1b[2J" + "T" * 1_000_000  # a node name from the file, echoed in errors
    doc["nodes"]["trainer"]["params"]["lr"] = "x" * 1_000_000
    (tmp_path / "w.json").write_text(json.dumps(doc))
    code, _, err = cli("validate", "w.json", cwd=tmp_path)
    assert code == 2 and err.startswith("error: w.json: node '\\x1b[2JTTTT"), err[:300]
    assert all(len(line) < 2000 for line in err.splitlines()) and "\x1b" not in err, len(err)


def test_the_console_escapes_control_characters_from_data() -> None:
    out = io.StringIO()
    console = Console(out)
    console({"event": "log", "node": "Data\x1b[2J", "message": "classes: cat, \x1b]0;owned\x07dog\nsecond line"})
    console({"event": "metrics", "node": "Eval\r", "metrics": {"samples": 3, "evil\x1b[31m_metric": 0.5}})
    console({"event": "node_outputs", "node": "Data", "outputs": {"dataset": "3 samples, classes \x1b[2J\x9b"}})
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\x9b" not in text, repr(text)
    assert "Data\\x1b[2J" in text and "\\x1b]0;owned\\x07dog\nsecond line" in text  # visible; lines kept
    assert "evil\\x1b[31m metric 0.5000" in text and "classes \\x1b[2J\\x9b" in text


def test_ckpt_and_runs_commands_escape_control_characters_from_files(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "run"
    shutil.copytree(ROOT / "tests" / "fixtures" / "old_checkpoints" / "nodeflow", folder)
    doc = json.loads((folder / "manifest.json").read_text())
    for entry in doc["checkpoints"].values():
        entry["description"], entry["tags"] = "\x1b[2J\x1b]0;owned\x07cleared", ["\x1b[31mred"]
    (folder / "manifest.json").write_text(json.dumps(doc))
    for command in (["ckpt", "list", str(folder)], ["ckpt", "show", str(folder / "final_model.pt")]):
        assert main(command) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out, repr(out)
        assert "\\x1b[31mred" in out  # shown, harmlessly


def child_writes(tmp_path: Path, umask: int, code: str) -> None:
    script = f"import os; os.umask({umask:#o}); from pathlib import Path; {code}"
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_follow_the_umask_and_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    write = "from nodeflow.core.files import atomic_write_text as w; "
    child_writes(tmp_path, 0o022, write + "w(Path('shared.txt'), 'a'); w(Path('kept.txt'), 'a')")
    assert mode(tmp_path / "shared.txt") == 0o644 and mode(tmp_path / "kept.txt") == 0o644
    (tmp_path / "kept.txt").chmod(0o640)
    child_writes(tmp_path, 0o077, write + "w(Path('private.txt'), 'a'); w(Path('kept.txt'), 'b')")
    assert mode(tmp_path / "private.txt") == 0o600
    assert mode(tmp_path / "kept.txt") == 0o640 and (tmp_path / "kept.txt").read_text() == "b"
    # what a user runs: plot curves and save a workflow under a group-readable umask
    shutil.copytree(OLD_RUN, tmp_path / "run")
    child_writes(tmp_path, 0o027, "import sys; from nodeflow.cli import main; "
                                  "sys.exit(main(['ckpt', 'plot', 'run', '-o', 'curves.png']))")
    assert mode(tmp_path / "curves.png") == 0o640


def special_files(folder: Path) -> dict[str, Path]:
    """A FIFO, a socket, a folder and (where this user may make one) a device node, by kind."""
    found = {"a FIFO": folder / "fifo.png", "a socket": folder / "sock.png", "a folder": folder / "dir.png"}
    os.mkfifo(found["a FIFO"])
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(found["a socket"]))
    listener.close()
    found["a folder"].mkdir()
    try:
        os.mknod(folder / "null.png", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
        found["a device"] = folder / "null.png"
    except (PermissionError, AttributeError):
        pass
    return found


def test_force_replaces_only_a_regular_file(tmp_path: Path) -> None:
    shutil.copytree(OLD_RUN, tmp_path / "run")
    for kind, path in special_files(tmp_path).items():
        before = path.lstat()
        code, _, err = cli("ckpt", "plot", "run", "-o", path.name, "--force", cwd=tmp_path)
        assert code == 2 and len(err.splitlines()) == 1 and f"is {kind}, not a regular file" in err, (kind, err)
        after = path.lstat()
        assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
        code, _, err = cli("ckpt", "export", "run/final_model.pt", path.name, "--force", cwd=tmp_path)
        assert code == 2 and len(err.splitlines()) == 1 and ("not a regular file" in err or "is a folder" in err), err
        assert path.lstat().st_ino == before.st_ino
    (tmp_path / "mine.png").write_text("a file NodeFlow did not write")
    assert cli("ckpt", "plot", "run", "-o", "mine.png", cwd=tmp_path)[0] == 2  # refused without --force
    code, out, err = cli("ckpt", "plot", "run", "-o", "mine.png", "--force", cwd=tmp_path)
    assert code == 0 and (tmp_path / "mine.png").read_bytes().startswith(b"\x89PNG"), err
