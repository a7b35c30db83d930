"""nodeflow.checkpoints, the CheckpointManager API: the documented loop, ids, loading, tags, backups,
compression and the summary, on real files and through the real `nodeflow ckpt` commands."""
from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from nodeflow.checkpoints import CheckpointConfig, CheckpointManager
from nodeflow.core.errors import CheckpointError
from nodeflow.checkpoints.torch_files import CheckpointWarning
from tests.conftest import ROOT, WORKFLOWS, bare_env, run_cli

API_ID = re.compile(r"^checkpoint_epoch_\d{4}_step_\d{6}_\d{8}_\d{6}$")


def net(outputs: int = 3) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, outputs))


def manager(tmp_path: Path, **config: object) -> CheckpointManager:
    return CheckpointManager(CheckpointConfig(checkpoint_dir=tmp_path / "ck", **config), "exp")


def save(m: CheckpointManager, model: torch.nn.Module, val_losses: list[float], **kwargs: object) -> list[str | None]:
    return [m.save_checkpoint(model, None, epoch=e, step=10 * e, metrics={"val_loss": v}, **kwargs)
            for e, v in enumerate(val_losses, 1)]


def flip_byte(path: Path, offset: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_documented_loop_runs_and_its_folder_works_with_nodeflow_ckpt(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "checkpoint-api.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    assert len(code.strip().splitlines()) <= 22
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=bare_env())
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "checkpoints" / "digits_mlp"
    entries = json.loads((folder / "manifest.json").read_text())["checkpoints"]
    assert all(API_ID.match(e["checkpoint_id"]) and name == e["checkpoint_id"] + ".pt"
               for name, e in entries.items())
    best = min(entries.values(), key=lambda e: e["metrics"]["val_loss"])
    assert best["is_best"] and sum(e["is_best"] for e in entries.values()) == 1
    assert len(entries) == 3  # max_checkpoints=3 files, the best among them
    for name in entries:  # plain torch.load, as the API's users do
        assert torch.load(folder / name)["model_state_dict"]["0.weight"].shape == (32, 64)
    assert (folder / "backups" / (best["checkpoint_id"] + ".pt")).read_bytes() == \
        (folder / (best["checkpoint_id"] + ".pt")).read_bytes()

    listing = run_cli("ckpt", "list", str(folder), cwd=tmp_path).stdout
    assert listing.count("demo") == len(entries)
    assert run_cli("ckpt", "verify", str(folder), cwd=tmp_path).returncode == 0
    names = sorted(entries)
    compared = run_cli("ckpt", "compare", str(folder / names[0]), str(folder / names[-1]), cwd=tmp_path)
    assert compared.returncode == 0 and "val_loss" in compared.stdout and "0.weight" in compared.stdout
    exported = run_cli("ckpt", "export", str(folder / names[-1]), str(tmp_path / "out.pt"), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "out.pt").read_bytes() == (folder / names[-1]).read_bytes()
    summary = json.loads(run_cli("ckpt", "summary", str(folder), "--json", cwd=tmp_path).stdout)
    assert summary["total_checkpoints"] == len(entries)
    assert summary["best_checkpoint"] == best["checkpoint_id"]
    assert summary["best_metric"] == {"val_loss": best["metrics"]["val_loss"]}
    assert summary["latest_checkpoint"] == entries[names[-1]]["checkpoint_id"]
    assert f"'total_checkpoints': {len(entries)}" in done.stdout  # the loop's own print of the summary


def test_load_by_id_restores_the_model_and_optimizer_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    m = manager(tmp_path)
    checkpoint_id = m.save_checkpoint(model, optimizer, epoch=1, step=7, metrics={"val_loss": 0.3},
                                      tags=["demo"], description="first")
    assert API_ID.match(checkpoint_id)
    fresh = net()
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.1)
    data = m.load_checkpoint(checkpoint_id, fresh, fresh_opt)
    assert data["epoch"] == 1 and data["step"] == 7 and data["metrics"] == {"val_loss": 0.3}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    assert fresh_opt.state_dict()["state"][0]["exp_avg"].equal(optimizer.state_dict()["state"][0]["exp_avg"])
    assert m.load_checkpoint("best")["checkpoint_id"] == m.load_checkpoint("latest")["checkpoint_id"] == checkpoint_id
    meta = m.list_checkpoints()[0]
    assert (meta.checkpoint_id, meta.tags, meta.description, meta.model_name) == (checkpoint_id, ["demo"], "first",
                                                                                  "Sequential")
    assert m.validate_checkpoint(checkpoint_id)


def test_bad_ids_models_tags_and_configs_are_one_line_errors(tmp_path: Path) -> None:
    m = manager(tmp_path)
    checkpoint_id = m.save_checkpoint(net(), epoch=1, step=1, metrics={"val_loss": 1.0})
    with pytest.raises(CheckpointError, match=r"no checkpoint 'checkpoint_epoch_0009'; nearest: checkpoint_epoch_0001"):
        m.load_checkpoint("checkpoint_epoch_0009")
    with pytest.raises(CheckpointError, match=r"'2\.weight' is \(3, 8\) in the checkpoint, \(5, 8\) in this model"):
        m.load_checkpoint(checkpoint_id, net(outputs=5))
    with pytest.raises(CheckpointError, match=r"the checkpoint has no 'extra\.weight'"):
        m.load_checkpoint(checkpoint_id, _with_extra_layer())
    for tags in ([3], "demo", [""], ["a,b"]):
        with pytest.raises(CheckpointError, match="tag"):
            m.save_checkpoint(net(), epoch=2, step=2, metrics={"val_loss": 0.5}, tags=tags)
    for bad in ({"save_interval": 0}, {"monitor_mode": "up"}, {"compression": "lz4"}, {"save_best_only": "yes"}):
        with pytest.raises(CheckpointError) as caught:
            CheckpointConfig(**bad)
        assert len(str(caught.value).splitlines()) == 1 and next(iter(bad)) in str(caught.value)
    with pytest.raises(CheckpointError, match="plain folder name"):
        CheckpointManager(CheckpointConfig(checkpoint_dir=tmp_path), "../elsewhere")
    assert len(m.list_checkpoints()) == 1  # nothing was written by the refused calls


def _with_extra_layer() -> torch.nn.Module:
    model = net()
    model.extra = torch.nn.Linear(3, 3)
    return model


def test_save_interval_best_only_and_retention_keep_the_best(tmp_path: Path) -> None:
    m = manager(tmp_path / "a", save_best_only=True)
    saved = save(m, net(), [0.9, 0.5, 0.7, 0.4, float("nan")])
    assert [s is not None for s in saved] == [True, True, False, True, False]
    assert m.get_checkpoint_summary()["best_checkpoint"] == saved[3]
    with pytest.raises(CheckpointError, match="save_best_only needs metrics\\['val_loss'\\]"):
        m.save_checkpoint(net(), epoch=6, step=60, metrics={"loss": 0.1})

    m = manager(tmp_path / "b", save_interval=2, max_checkpoints=2, monitor_mode="max")
    saved = save(m, net(), [0.1, 0.9, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])  # max mode: epoch 2 stays best
    assert [s is not None for s in saved] == [False, True] * 4
    kept = [meta.checkpoint_id for meta in m.list_checkpoints()]
    assert kept == [saved[1], saved[7]]  # max_checkpoints=2 files: the best (epoch 2) and the newest
    assert sorted(p.name for p in (m.folder / "backups").iterdir()) == [saved[1] + ".pt"]

    m = manager(tmp_path / "c", save_interval=2, max_checkpoints=0, monitor_mode="max")
    saved = save(m, net(), [0.1, 0.9, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])  # all four kept
    done = run_cli("ckpt", "prune", str(m.folder), "--keep", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # --keep 2 counts as max_checkpoints=2 does: best and newest
    assert [meta.checkpoint_id for meta in m.list_checkpoints()] == [saved[1], saved[7]]


def test_a_flipped_byte_falls_back_to_the_backup_and_restore_backup_puts_it_back(tmp_path: Path) -> None:
    m = manager(tmp_path)
    model = net()
    best = m.save_checkpoint(model, epoch=1, step=10, metrics={"val_loss": 0.2})
    path = m.folder / f"{best}.pt"
    original = path.read_bytes()
    flip_byte(path)
    assert not m.validate_checkpoint(best)
    with pytest.warns(CheckpointWarning, match="SHA-256 does not match.*loaded its verified backup"):
        data = m.load_checkpoint(best, net())
    assert all(torch.equal(a, b) for a, b in zip(data["model_state_dict"].values(), model.state_dict().values()))

    verify = run_cli("ckpt", "verify", str(m.folder), cwd=tmp_path)
    assert verify.returncode == 1 and "its backup verifies" in verify.stdout
    one = run_cli("ckpt", "verify", str(path), cwd=tmp_path)  # one file: the same account as the folder's
    assert one.returncode == 1 and "its backup verifies" in one.stdout
    shown = run_cli("ckpt", "show", str(path), cwd=tmp_path)  # the CLI loads through the backup, one warning line
    assert shown.returncode == 0 and shown.stderr.strip().startswith("warning: ") \
        and len(shown.stderr.strip().splitlines()) == 1
    restored = run_cli("ckpt", "restore-backup", str(path), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert path.read_bytes() == original
    assert path.with_name(path.name + ".corrupt").read_bytes() != original  # the damaged file is kept
    assert run_cli("ckpt", "verify", str(m.folder), cwd=tmp_path).returncode == 0

    flip_byte(m.folder / "backups" / path.name)  # backup gone bad too: nothing to fall back to
    flip_byte(path)
    with pytest.raises(CheckpointError, match="not used: SHA-256 does not match"):
        m.load_checkpoint(best)
    again = run_cli("ckpt", "restore-backup", str(path), cwd=tmp_path)
    assert again.returncode == 2 and "the backup does not match the manifest either" in again.stderr


def test_tags_from_the_cli_show_in_list_and_show_and_keep_protects_a_file(tmp_path: Path) -> None:
    m = manager(tmp_path, max_checkpoints=1, backup_checkpoints=False)
    ids = save(m, net(), [0.5, 0.6])
    first = m.folder / f"{ids[0]}.pt"
    second = m.folder / f"{ids[1]}.pt"
    done = run_cli("ckpt", "tag", str(second), "--add", "best-so-far", "--add", "keep", "--description",
                   "before the LR change", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (m.folder / "backups" / second.name).read_bytes() == second.read_bytes()  # keep backs it up
    listed = run_cli("ckpt", "list", str(m.folder), "--tag", "best-so-far", cwd=tmp_path).stdout
    assert second.name in listed and first.name not in listed
    shown = run_cli("ckpt", "show", str(second), cwd=tmp_path).stdout
    assert "tags: best-so-far, keep" in shown and "description: before the LR change" in shown
    save(m, net(), [0.7, 0.8, 0.9])  # max_checkpoints=1: keep-tagged and best files stay
    assert first.is_file() and second.is_file()
    assert [meta.file for meta in m.list_checkpoints(tag="keep")] == [second.name]
    bad = run_cli("ckpt", "tag", str(second), "--add", "a,b", cwd=tmp_path)
    assert bad.returncode == 2 and "is not a tag" in bad.stderr


def test_tags_edited_while_checkpoints_are_saved_are_never_lost(tmp_path: Path) -> None:
    m = manager(tmp_path, max_checkpoints=0, backup_checkpoints=False)
    first = m.save_checkpoint(net(), epoch=1, step=1, metrics={"val_loss": 1.0})
    script = ("import sys; from pathlib import Path; from nodeflow.checkpoints.manifest import set_tags\n"
              "for i in range(40): set_tags(Path(sys.argv[1]), sys.argv[2], add=[f't{i}'])\n")
    tagger = subprocess.Popen([sys.executable, "-c", script, str(m.folder), f"{first}.pt"],
                              env=bare_env())
    model = net()
    for epoch in range(2, 42):
        m.save_checkpoint(model, epoch=epoch, step=epoch, metrics={"val_loss": 1.0})
    assert tagger.wait(timeout=120) == 0
    metas = m.list_checkpoints()
    assert len(metas) == 41
    assert metas[0].tags == [f"t{i}" for i in range(40)]


def test_compressed_checkpoints_read_transparently_and_corruption_is_one_line(tmp_path: Path) -> None:
    for method, suffix in (("zstd", ".pt.zst"), ("gzip", ".pt.gz")):
        m = manager(tmp_path / method, compression=method)
        model = net()
        checkpoint_id = m.save_checkpoint(model, epoch=1, step=1, metrics={"val_loss": 0.1})
        path = m.folder / f"{checkpoint_id}{suffix}"
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path)  # documented: a compressed file needs NodeFlow (or a decompressor) to open
        data = m.load_checkpoint(checkpoint_id, net())
        assert data["model_state_dict"]["0.weight"].equal(model.state_dict()["0.weight"])
        assert path.name in run_cli("ckpt", "list", str(m.folder), cwd=tmp_path).stdout
        raw = bytearray(path.read_bytes())
        copy = tmp_path / f"loose{suffix}"  # no manifest beside it: the decompressor finds the damage
        copy.write_bytes(bytes(raw[: len(raw) // 2]))
        shown = run_cli("ckpt", "show", str(copy), cwd=tmp_path)
        assert shown.returncode == 2 and f"corrupt {method}-compressed checkpoint" in shown.stderr \
            and len(shown.stderr.strip().splitlines()) == 1


def test_the_trainer_saves_through_the_manager_with_compression_and_backups(tmp_path: Path) -> None:
    args = ("run", str(WORKFLOWS / "digits_cnn.json"), "--set", "Trainer.checkpoint_dir=ck", "--set",
            "Trainer.save_every_n_epochs=1", "--set", "Trainer.compression=zstd", "--set",
            "Trainer.backup_checkpoints=true")
    first = run_cli(*args, "--set", "Trainer.epochs=2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    folder = tmp_path / "ck"
    names = {p.name for p in folder.iterdir()}
    assert {"checkpoint_epoch_1.pt.zst", "checkpoint_epoch_2.pt.zst", "best_model.pt.zst", "final_model.pt.zst",
            "backups"} <= names
    assert sorted(p.name for p in (folder / "backups").iterdir()) == ["best_model.pt.zst", "final_model.pt.zst"]
    import nodeflow

    model, checkpoint = nodeflow.restore_model(folder / "best_model.pt.zst")
    assert checkpoint["epoch"] >= 1 and not model.training
    flip_byte(folder / "final_model.pt.zst", 100)
    resumed = run_cli(*args, "--set", "Trainer.epochs=3", "--resume", "auto", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "loaded its verified backup" in resumed.stderr
    assert CheckpointManager.open(folder).load_checkpoint("final_model.pt.zst")["epoch"] == 3


def test_a_backup_folder_that_cannot_be_written_is_a_warning_and_training_goes_on(tmp_path: Path) -> None:
    """backups/ is read-only (tests/fs_faults.py answers every write there with EROFS, as a read-only
    mount would; no privileges needed)."""
    (tmp_path / "ck" / "exp" / "backups").mkdir(parents=True)
    script = ("import torch, warnings; from nodeflow.checkpoints import CheckpointConfig, CheckpointManager\n"
              "m = CheckpointManager(CheckpointConfig(checkpoint_dir='ck'), 'exp')\n"
              "for e in (1, 2): print(m.save_checkpoint(torch.nn.Linear(2, 2), epoch=e, step=e, "
              "metrics={'val_loss': 1.0 / e}))\n")
    done = subprocess.run([sys.executable, "-m", "tests.fs_faults", "ck/exp/backups", str(tmp_path), "-c", script],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=bare_env())
    assert done.returncode == 0, done.stderr
    assert "Read-only file system" in done.stderr
    assert len([line for line in done.stdout.splitlines() if API_ID.match(line)]) == 2
    assert "could not back up" in done.stderr and "training goes on" in done.stderr
    assert len(list((tmp_path / "ck" / "exp").glob("*.pt"))) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # both files verify without any fallback
        assert all(CheckpointManager.open(tmp_path / "ck" / "exp").validate_checkpoint(m.checkpoint_id)
                   for m in CheckpointManager.open(tmp_path / "ck" / "exp").list_checkpoints())


def test_backup_link_makes_hard_links_that_take_no_extra_disk(tmp_path: Path) -> None:
    m = manager(tmp_path, backup_link=True)
    best = m.save_checkpoint(net(), epoch=1, step=1, metrics={"val_loss": 0.5})
    main, backup = m.folder / f"{best}.pt", m.folder / "backups" / f"{best}.pt"
    assert main.stat().st_ino == backup.stat().st_ino and main.stat().st_nlink == 2


def test_a_best_copy_whose_periodic_file_went_with_a_removed_folder_is_serialized_again(tmp_path: Path) -> None:
    import shutil

    from nodeflow.checkpoints.manifest import read_entries, verify_file

    m = CheckpointManager.open(tmp_path / "ck", backup_checkpoints=False)
    payload = {"epoch": 1, "step": 5, "model_state_dict": net().state_dict(), "metrics": {}, "config": {}}
    periodic = m.save_file("checkpoint_epoch_1.pt", payload, "periodic")
    shutil.rmtree(m.folder)  # deleted by the user between the two saves of one epoch
    best = m.save_file("best_model.pt", payload, "best", same_as=periodic)
    assert verify_file(best, read_entries(m.folder)["best_model.pt"]) is None
    assert torch.load(best)["model_state_dict"]["0.weight"].equal(payload["model_state_dict"]["0.weight"])
