"""Nothing NodeFlow writes destroys a file it did not create, and a second run never mixes with the first."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from nodeflow.core.outputs import RECORD
from nodeflow.checkpoints.manifest import prune_periodic, read_entries, write_manifest
from tests.conftest import WORKFLOWS, run_cli

DIGITS = str(WORKFLOWS / "digits_cnn.json")
WINE = str(WORKFLOWS / "wine_mlp.json")
QUICK = ["--set", "Trainer.epochs=2", "--set", "Trainer.save_every_n_epochs=1"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` by relative path, with its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_fresh_run_into_a_used_folder_changes_nothing_and_says_how_to_go_on(tmp_path: Path) -> None:
    first = run_cli("run", DIGITS, *QUICK, "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path / "ck")
    second = run_cli("run", DIGITS, *QUICK, "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path)
    assert second.returncode == 2
    (line,) = second.stderr.splitlines()
    run_id = json.loads((tmp_path / "ck" / "manifest.json").read_text())["run"]["id"]
    assert "node 'Trainer' field 'checkpoint_dir'" in line and f"already holds run {run_id}" in line
    for way in ("resume=auto", "ck_2", "{run}", "--overwrite", f"previous/{run_id}"):
        assert way in line
    assert snapshot(tmp_path / "ck") == before


def test_overwrite_moves_the_earlier_run_to_previous_byte_for_byte(tmp_path: Path) -> None:
    assert run_cli("run", DIGITS, *QUICK, "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path).returncode == 0
    before = snapshot(tmp_path / "ck")
    old_id = json.loads((tmp_path / "ck" / "manifest.json").read_text())["run"]["id"]
    again = run_cli("run", DIGITS, "--set", "Trainer.epochs=1", "--set", "Trainer.checkpoint_dir=ck",
                    "--overwrite", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    moved = tmp_path / "ck" / "previous" / old_id
    assert snapshot(moved) == before
    assert run_cli("ckpt", "verify", str(moved), cwd=tmp_path).returncode == 0
    entries = read_entries(tmp_path / "ck")
    assert sorted(entries) == ["best_model.pt", "final_model.pt"]
    assert {e["run_id"] for e in entries.values()} != {old_id}


def test_resume_auto_continues_the_same_run(tmp_path: Path) -> None:
    assert run_cli("run", DIGITS, *QUICK, "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path).returncode == 0
    run_id = json.loads((tmp_path / "ck" / "manifest.json").read_text())["run"]["id"]
    more = run_cli("run", DIGITS, "--set", "Trainer.epochs=3", "--set", "Trainer.checkpoint_dir=ck",
                   "--resume", "auto", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    entries = read_entries(tmp_path / "ck")
    assert entries["final_model.pt"]["epoch"] == 3 and {e["run_id"] for e in entries.values()} == {run_id}


def test_a_project_folder_with_the_users_own_files_is_refused_before_anything_runs(tmp_path: Path) -> None:
    project = tmp_path / "myproject"
    (project / "history").mkdir(parents=True)
    (project / "config.json").write_text('{"my": "settings"}')
    (project / "history" / "notes.md").write_text("mine")
    (project / "data.csv").write_text("1,2\n")
    before = snapshot(project)
    for command in ("validate", "run"):
        result = run_cli(command, DIGITS, "--set", "Trainer.checkpoint_dir=myproject", cwd=tmp_path)
        assert result.returncode == 2
        assert "NodeFlow did not write" in result.stderr and "config.json, history/" in result.stderr
        assert "myproject_2" in result.stderr and "data.csv" not in result.stderr
        assert snapshot(project) == before


def test_the_users_files_are_refused_when_the_folder_is_named_at_run_time(tmp_path: Path) -> None:
    (tmp_path / "runs" / "cnn").mkdir(parents=True)
    (tmp_path / "runs" / "cnn" / "workflow.json").write_text("my own workflow")
    result = run_cli("run", DIGITS, "--set", "Trainer.checkpoint_dir=runs/{model}", cwd=tmp_path)
    assert result.returncode == 2 and "workflow.json" in result.stderr
    assert (tmp_path / "runs" / "cnn" / "workflow.json").read_text() == "my own workflow"
    assert sorted(p.name for p in (tmp_path / "runs" / "cnn").iterdir()) == ["workflow.json"]


def test_predict_never_replaces_a_file_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("precious")
    result = run_cli("run", WINE, *QUICK, "--set", "Predict.path=notes.txt", cwd=tmp_path)
    assert result.returncode == 2
    assert "node 'Predict' field 'path'" in result.stderr and "overwrite" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "precious" and not (tmp_path / "checkpoints").exists()
    forced = run_cli("run", WINE, *QUICK, "--set", "Predict.path=notes.txt", "--set", "Predict.overwrite=true",
                     cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "notes.txt").read_text().startswith("index,")


def test_predict_onto_a_checkpoint_is_a_collision_naming_both_nodes(tmp_path: Path) -> None:
    result = run_cli("run", WINE, *QUICK, "--set", "Trainer.checkpoint_dir=ck", "--set",
                     "Predict.path=ck/best_model.pt", cwd=tmp_path)
    assert result.returncode == 2
    assert "node 'Predict' field 'path'" in result.stderr and "Trainer.checkpoint_dir" in result.stderr
    assert not (tmp_path / "ck").exists()


def test_two_nodes_writing_one_path_are_refused(tmp_path: Path) -> None:
    doc = json.loads(Path(WINE).read_text())
    doc["nodes"]["predict2"] = {**doc["nodes"]["predict"], "name": "Predict2"}
    doc["links"] += [link | {"to": {**link["to"], "node": "predict2"}} for link in doc["links"]
                     if link["to"]["node"] == "predict"]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(doc))
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "node 'Predict2' field 'path'" in result.stderr and "as Predict.path does" in result.stderr


def test_an_example_runs_twice_without_flags_and_keeps_both_runs(tmp_path: Path) -> None:
    for _ in range(2):
        result = run_cli("run", WINE, *QUICK, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        if _ == 0:
            first = snapshot(tmp_path / "checkpoints" / "wine_mlp" / "run_1")
    folder = tmp_path / "checkpoints" / "wine_mlp"
    assert snapshot(folder / "run_1") == first and (folder / "run_2" / "final_model.pt").is_file()
    assert json.loads((folder / RECORD).read_text())["files"]["test_predictions.csv"]["writer"] == "Predict"


def test_ckpt_export_and_plot_refuse_foreign_files_unless_forced(tmp_path: Path) -> None:
    assert run_cli("run", DIGITS, *QUICK, "--set", "Trainer.checkpoint_dir=ck", cwd=tmp_path).returncode == 0
    (tmp_path / "existing.txt").write_text("keep me")
    (tmp_path / "curves.png").write_text("my picture")
    export = run_cli("ckpt", "export", "ck/best_model.pt", "existing.txt", cwd=tmp_path)
    plot = run_cli("ckpt", "plot", "ck", cwd=tmp_path)
    for result in (export, plot):
        assert result.returncode == 2 and "--force" in result.stderr and len(result.stderr.splitlines()) == 1
    assert (tmp_path / "existing.txt").read_text() == "keep me"
    assert (tmp_path / "curves.png").read_text() == "my picture"
    for _ in range(2):  # our own earlier export is replaced without --force
        assert run_cli("ckpt", "export", "ck/best_model.pt", "out/best.pt", cwd=tmp_path).returncode == 0
    assert run_cli("ckpt", "plot", "ck", "--force", cwd=tmp_path).returncode == 0
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    (tmp_path / "out" / "best.pt").write_bytes(b"edited by the user")
    again = run_cli("ckpt", "export", "ck/best_model.pt", "out/best.pt", cwd=tmp_path)
    assert again.returncode == 2 and (tmp_path / "out" / "best.pt").read_bytes() == b"edited by the user"


def test_retention_and_temp_cleanup_touch_only_this_runs_files(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    for name in ("checkpoint_epoch_1.pt", "checkpoint_epoch_2.pt"):
        (folder / name).write_bytes(b"x")
    write_manifest(folder, {"checkpoint_epoch_1.pt": {"kind": "periodic", "epoch": 1, "run_id": "old"},
                            "checkpoint_epoch_2.pt": {"kind": "periodic", "epoch": 2, "run_id": "new"}})
    assert prune_periodic(folder, 0, run_id="new") == ["checkpoint_epoch_2.pt"]
    assert (folder / "checkpoint_epoch_1.pt").exists()

    args = ("run", DIGITS, "--set", "Trainer.epochs=1", "--set", "Trainer.checkpoint_dir=work")
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    (tmp_path / "work" / ".notes.tmp").write_text("an editor's swap file")
    (tmp_path / "work" / ".best_model.pt.abcd1234.tmp").write_bytes(b"half a checkpoint")  # a killed save
    result = run_cli(*args, "--resume", "auto", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "work" / ".notes.tmp").read_text() == "an editor's swap file"
    assert not (tmp_path / "work" / ".best_model.pt.abcd1234.tmp").exists()


def test_an_unwritable_checkpoint_dir_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = run_cli("run", DIGITS, "--set", "Trainer.checkpoint_dir=/proc/nodeflow/ck", cwd=tmp_path)
    assert result.returncode == 2 and "field 'checkpoint_dir': cannot create /proc/nodeflow/ck" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_lone_checkpoint_gives_back_the_workflow_it_was_trained_with(tmp_path: Path) -> None:
    assert run_cli("run", DIGITS, "--set", "Trainer.epochs=1", "--set", "Trainer.checkpoint_dir=ck",
                   "--set", "Trainer.lr=0.002", cwd=tmp_path).returncode == 0
    (tmp_path / "elsewhere").mkdir()
    lone = tmp_path / "elsewhere" / "copied.pt"
    lone.write_bytes((tmp_path / "ck" / "best_model.pt").read_bytes())
    result = run_cli("ckpt", "workflow", str(lone), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (tmp_path / "ck" / "workflow.json").read_text()  # as run, after --set
    assert json.loads(result.stdout)["nodes"]["trainer"]["params"]["lr"] == 0.002
    assert read_entries(tmp_path / "ck")["best_model.pt"]["workflow"] == result.stdout


def test_ckpt_commands_in_another_tools_folder_never_replace_its_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"tool": "someone else", "files": ["a.pt"]}\n')
    for name in ("a.pt", "b.pt"):
        (folder / name).write_bytes(b"their weights " + name.encode())
    before = snapshot(folder)
    deleted = run_cli("ckpt", "delete", str(folder / "b.pt"), cwd=tmp_path)  # the user asked for this one file
    assert deleted.returncode == 0, deleted.stderr
    assert run_cli("ckpt", "prune", str(folder), "--keep", "0", cwd=tmp_path).returncode == 0
    tagged = run_cli("ckpt", "tag", str(folder / "a.pt"), "--add", "keep", cwd=tmp_path)
    assert tagged.returncode == 2 and "a.pt" in tagged.stderr and len(tagged.stderr.splitlines()) == 1
    assert snapshot(folder) == {k: v for k, v in before.items() if k != "b.pt"}
