"""Fuzzed checkpoint files: every command that reads one exits 0 or with one `error:` line (exit 2),
never a traceback, never a change outside its temp folder, never unbounded memory.

Over 200 generated files: random bytes, truncations and flipped bytes of a real checkpoint, a real
payload with a wrong type at each field, huge values, non-dict payloads, compressed garbage and
compressed bombs. Most go through `nodeflow.cli.main` in-process; the bombs and a handful of
others go through a child process that reports its peak memory.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from nodeflow.core.errors import UserError
from nodeflow.core.files import sha256_of
from tests.conftest import ROOT, build_once
from tests.reliability.test_fuzz_workflows import TINY, cli

WRONG = ["seven", -3, 10**30, 2.5, float("nan"), [1, "a"], {"a": "b"}, True, torch.zeros(2)]
FIELDS = ["epoch", "step", "batch_in_epoch", "best_epoch", "world_size", "loss", "best", "epoch_losses", "history",
          "metrics", "config", "monitor", "workflow", "optimizer_state_dict", "scheduler_state_dict",
          "scaler_state_dict", "rng", "rng_ranks", "epoch_loss_sum", "epoch_extra_sums"]
STATE_DICTS = [[torch.zeros(1)], {1: torch.zeros(1)}, {"1.weight": "x"}, {"1.weight": torch.zeros(99)}, {}, "w",
               {"1.weight": torch.zeros(3, 4, dtype=torch.bool)}, {"1.weight": torch.zeros(3, 4).to_sparse()}]


def tiny_workflow(folder: Path, epochs: int = 2) -> Path:
    doc = json.loads(json.dumps(TINY))
    doc["nodes"]["trainer"]["params"]["epochs"] = epochs
    del doc["nodes"]["predict"]
    doc["links"] = [link for link in doc["links"] if link["to"]["node"] != "predict"]
    path = folder / "tiny.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-epoch run: tiny.json and ck/ with its checkpoints and manifest."""
    def build(folder: Path) -> None:
        tiny_workflow(folder)
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "tiny.json"], cwd=folder,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr

    return build_once(tmp_path_factory, "fuzz_tiny_run", build)


def assert_clean(case: str, args: tuple[str, ...], code: int, err: str, allowed: tuple[int, ...] = (0, 2)) -> None:
    where = f"{case}: {' '.join(args)}"
    assert code in allowed, f"{where}: exit {code}\n{err}"
    assert "Traceback" not in err, f"{where}\n{err}"
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert len(lines) <= 1, f"{where}: more than one line\n{err}"
    if code == 2:
        assert lines and lines[0].startswith("error: "), f"{where}\n{err}"


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def malformed(real: Path, out: Path) -> list[Path]:
    """The generated files: each a different way a checkpoint can be wrong."""
    rng = random.Random(0)
    blob = real.read_bytes()
    payload = torch.load(real)
    files: list[tuple[str, bytes | Any]] = []
    for i in range(30):
        files.append((f"random_{i}.pt", rng.randbytes(rng.choice([0, 1, 7, 100, 1000, 5000]))))
    for i in range(30):
        files.append((f"truncated_{i}.pt", blob[:rng.randrange(len(blob))]))
    for i in range(15):
        flipped = bytearray(blob)
        for _ in range(rng.randint(1, 30)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        files.append((f"flipped_{i}.pt", bytes(flipped)))
    for field in FIELDS:
        for n, value in enumerate(WRONG):
            files.append((f"field_{field}_{n}.pt", {**payload, field: value}))
    for n, weights in enumerate(STATE_DICTS):
        files.append((f"state_dict_{n}.pt", {**payload, "model_state_dict": weights}))
    for n, config in enumerate([{"model": "x"}, {"model": {"type": 5}}, {"model": {"type": "model.mlp", "params":
                                {"hidden": "wide"}}}, {"trainer": [1]}, {"data": 3},
                               {"model": {"type": "model.nope"}}]):
        files.append((f"config_{n}.pt", {**payload, "config": config}))
    history = {"train_loss": [1.0, 2.0], "val_loss": [1.0]}
    files.append(("history_lengths.pt", {**payload, "history": history}))
    files.append(("history_huge.pt", {**payload, "history": {"train_loss": [1e308, float("inf"), float("nan")]}}))
    for n, top in enumerate([[1, 2], torch.zeros(3), 5, "checkpoint", None, {"a": 1}]):
        files.append((f"top_{n}.pt", top))
    files.append(("no_optimizer.pt", {k: v for k, v in payload.items() if k != "optimizer_state_dict"}))
    files.append(("no_epoch.pt", {k: v for k, v in payload.items() if k != "epoch"}))
    files.append(("optimizer_groups.pt", {**payload, "optimizer_state_dict": {"state": {}, "param_groups": [{}]}}))
    files.append(("rng_wrong.pt", {**payload, "rng": {"torch": torch.zeros(3, dtype=torch.uint8)}}))
    files.append(("gzip_random.pt.gz", gzip.compress(rng.randbytes(2000))))
    files.append(("gzip_truncated.pt.gz", gzip.compress(blob)[:3000]))
    files.append(("gzip_garbage.pt.gz", b"\x1f\x8b" + rng.randbytes(500)))
    files.append(("zstd_garbage.pt.zst", b"\x28\xb5\x2f\xfd" + rng.randbytes(500)))
    paths = []
    for name, content in files:
        path = out / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            torch.save(content, path)
        paths.append(path)
    return paths


def commands(path: Path, real: Path, work: Path) -> list[tuple[str, ...]]:
    return [("ckpt", "show", str(path)), ("ckpt", "compare", str(real), str(path)),
            ("ckpt", "export", str(path), str(work / "out" / f"{path.name}.safetensors"), "--format", "safetensors"),
            ("ckpt", "export", str(path), str(work / "out" / f"{path.name}.copy")),
            ("ckpt", "workflow", str(path)), ("ckpt", "verify", str(path))]


def test_malformed_checkpoints_are_one_line_through_every_reader(tmp_path: Path, trained: Path) -> None:
    real = trained / "ck" / "final_model.pt"
    (tmp_path / "bad").mkdir()
    (tmp_path / "out").mkdir()
    paths = malformed(real, tmp_path / "bad")
    assert len(paths) >= 200
    repo_before, run_before = set(os.listdir(ROOT)), tree(trained)
    refused = 0
    for path in paths:
        for args in commands(path, real, tmp_path):
            code, _, err = cli(*args, cwd=tmp_path)
            assert_clean(path.name, args, code, err, (0, 1, 2) if args[1] == "verify" else (0, 2))
            refused += code == 2
        try:
            import nodeflow

            nodeflow.restore_model(path)
        except UserError as exc:
            assert len(str(exc).splitlines()) == 1 and str(path) in str(exc), str(exc)
    assert refused > len(paths) * 4  # the typed readers refuse most of them
    assert set(os.listdir(ROOT)) == repo_before  # nothing written where the commands ran from
    assert tree(trained) == run_before
    assert {p.parent for p in tmp_path.rglob("*") if p.is_file()} <= {tmp_path / "bad", tmp_path / "out"}


def manifest_for(folder: Path, path: Path, source: Path) -> None:
    """A manifest in `folder` whose entry for `path` verifies (the real entry, with its size and SHA-256)."""
    doc = json.loads((source / "manifest.json").read_text())
    entry = doc["checkpoints"]["final_model.pt"]
    entry.update(file_size=path.stat().st_size, checksum=sha256_of(path))
    doc["checkpoints"] = {path.name: entry}
    (folder / "manifest.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("name", ["field_history_0.pt", "field_history_5.pt", "history_lengths.pt",
                                  "history_huge.pt", "field_epoch_0.pt", "field_config_5.pt", "state_dict_0.pt",
                                  "field_optimizer_state_dict_6.pt", "no_optimizer.pt", "optimizer_groups.pt",
                                  "rng_wrong.pt", "field_rng_ranks_5.pt", "field_step_2.pt", "state_dict_3.pt",
                                  "config_5.pt", "truncated_3.pt", "random_5.pt"])
def test_plot_and_resume_from_a_malformed_file_that_its_manifest_vouches_for(tmp_path: Path, trained: Path,
                                                                                name: str) -> None:
    """`ckpt plot` and `run --resume auto` read the newest file the manifest verifies; `--resume FILE`
    reads the named file before the run folder is claimed, so a refusal leaves no run behind."""
    (tmp_path / "bad").mkdir()
    path = next(p for p in malformed(trained / "ck" / "final_model.pt", tmp_path / "bad") if p.name == name)
    for p in (tmp_path / "bad").iterdir():
        if p != path:
            p.unlink()
    manifest_for(path.parent, path, trained / "ck")
    tiny_workflow(tmp_path, epochs=1)
    code, _, err = cli("ckpt", "plot", "bad", "-o", "curves.png", cwd=tmp_path)
    assert_clean(name, ("plot",), code, err)
    code, _, err = cli("run", "tiny.json", "--resume", str(path), "--set", "Trainer.checkpoint_dir=fresh",
                       cwd=tmp_path)
    assert_clean(name, ("run", "--resume", name), code, err)
    if code == 2:
        assert not (tmp_path / "fresh").exists(), "a refused resume claimed its folder"
        code, _, err = cli("run", "tiny.json", "--set", "Trainer.checkpoint_dir=fresh", cwd=tmp_path)
        assert code == 0, err  # the next run is not blocked
    code, _, err = cli("run", "tiny.json", "--resume", "auto", "--set", "Trainer.checkpoint_dir=bad", cwd=tmp_path)
    assert_clean(name, ("run", "--resume", "auto"), code, err)


BOMBS = """
import gzip, json, resource, sys, zstandard
from pathlib import Path
from nodeflow.cli import main
folder = Path(sys.argv[1])
zeros = b"\\0" * (64 << 20)
with (folder / "bomb.pt.zst").open("wb") as handle:  # streamed: this process never holds what they expand to
    writer = zstandard.ZstdCompressor(level=3).stream_writer(handle)
    for _ in range(32):
        writer.write(zeros)
    writer.flush(zstandard.FLUSH_FRAME)
with gzip.open(folder / "bomb.pt.gz", "wb", compresslevel=9) as out:
    for _ in range(16):
        out.write(zeros)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
codes = [main(["ckpt", "show", str(folder / name)]) for name in ("bomb.pt.zst", "bomb.pt.gz")]
print(json.dumps({"codes": codes, "before": before, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def test_compressed_bombs_are_refused_in_bounded_memory(tmp_path: Path) -> None:
    """A small zstd file that expands to 2 GiB, a 1 MB gzip one that expands to 1 GiB: refused, one line each,
    the process never holding more than the decompression cap."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", BOMBS, str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["codes"] == [2, 2]
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and all("refused: it expands to more than" in line for line in lines), done.stderr
    assert (report["peak"] - report["before"]) < 700 << 10, report  # KiB: the cap is 256 MiB plus 32x the file
