"""Random output paths over random pre-existing files: no file's bytes are lost unless the user said so."""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.reliability.test_fuzz_workflows import RANDOM, TINY, assert_clean, cli

# Names the writers use, plus plain user files, in a few folders.
FOLDERS = ["", "ck", "ck/history", "out", "ck/previous"]
NAMES = ["config.json", "workflow.json", "manifest.json", "best_model.pt", "final_model.pt", "checkpoint_epoch_1.pt",
         "training_log.txt", "p.csv", "notes.txt", ".nodeflow-outputs.json", "epoch_1.json", ".best_model.pt.x.tmp"]
PATHS = st.builds(lambda folder, name: f"{folder}/{name}".lstrip("/"), st.sampled_from(FOLDERS),
                  st.sampled_from(NAMES))


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


@settings(max_examples=40, deadline=None, derandomize=not RANDOM, suppress_health_check=[HealthCheck.too_slow])
@given(existing=st.lists(PATHS, max_size=6, unique=True), checkpoint_dir=st.sampled_from(["ck", "out", ".", "ck/x"]),
       predict=PATHS, overwrite_run=st.booleans(), overwrite_predict=st.booleans(),
       resume=st.sampled_from(["", "auto"]))
def test_writers_keep_every_existing_file_unless_told(existing: list[str], checkpoint_dir: str, predict: str,
                                                       overwrite_run: bool, overwrite_predict: bool,
                                                       resume: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, name in enumerate(existing):
            path = root / name
            if path.parent.is_file() or path.is_dir():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"user file {i}")
        before = tree(root)
        (root / "wf.json").write_text(json.dumps(TINY))
        args = ["--set", f"Trainer.checkpoint_dir={checkpoint_dir}", "--set", f"Predict.path={predict}",
                "--set", f"Predict.overwrite={str(overwrite_predict).lower()}", "--set", f"Trainer.resume={resume}"]
        code, _, err = cli("run", "wf.json", *args, *(["--overwrite"] if overwrite_run else []), cwd=root)
        assert_clean(code, err)
        event(f"exit {code}")
        after = tree(root)
        moved = {h for rel, h in after.items() if "previous/" in rel}
        for rel, digest in before.items():
            if rel == predict and overwrite_predict and code == 0:
                continue  # the user said so for this path
            assert after.get(rel) == digest or (overwrite_run and digest in moved), (rel, code, err)
