"""Each "✓ Saved" line prints under its own epoch, with background saving (the default) too."""
from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import WORKFLOWS, run_cli


def test_every_saved_line_sits_under_its_own_epoch(tmp_path: Path) -> None:
    done = run_cli("run", str(WORKFLOWS / "wine_mlp.json"), "--set", "Trainer.epochs=12", "--set",
                   "Trainer.save_every_n_epochs=1", "--set", "Trainer.checkpoint_dir=ck", "--set",
                   "Trainer.backup_checkpoints=true", cwd=tmp_path)  # backups: slower saves, short epochs
    assert done.returncode == 0, done.stderr
    epoch, saved = 0, []
    for line in done.stdout.splitlines():
        if started := re.match(r"Epoch \[(\d+)/", line):
            epoch = int(started.group(1))
        elif file := re.search(r"Saved checkpoint: checkpoint_epoch_(\d+)\.pt", line):
            saved.append((int(file.group(1)), epoch))
    assert len(saved) == 12
    assert [(n, under) for n, under in saved if n != under] == []  # (file's epoch, epoch printed under)
