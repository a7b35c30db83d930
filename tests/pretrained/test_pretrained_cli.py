"""The Pretrained node through the real CLI: a hub id found in the Hugging Face cache while offline
trains with the unchanged Trainer and its checkpoint names the snapshot's commit; each bad input is
one line naming the node and field, exit 2."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, events
from tests.pretrained.workflows import pretrained_workflow
from tests.reliability.test_fuzz_workflows import cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(root: Path, model: Path, repo: str) -> Path:
    """A Hugging Face cache holding `model` as the hub repo `repo` at COMMIT (main), laid out as
    huggingface_hub writes it: snapshots/COMMIT/ and refs/main."""
    entry = root / ("models--" + repo.replace("/", "--"))
    shutil.copytree(model, entry / "snapshots" / COMMIT)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(COMMIT)
    return root


def offline_cli(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_cached_hub_id_trains_offline_and_its_commit_is_recorded(tiny_models: Path, tmp_path: Path) -> None:
    cache = hub_cache(tmp_path / "hub", tiny_models / "gpt2", "tiny-org/tiny-gpt2")
    workflow = pretrained_workflow(tmp_path, "tiny-org/tiny-gpt2", "causal-lm")
    done = offline_cli("run", str(workflow), "--events", "jsonl", cwd=tmp_path, cache=cache)
    assert done.returncode == 0, done.stderr
    losses = [e["metrics"]["train_loss"] for e in events(done.stdout) if e["event"] == "epoch_end"]
    assert len(losses) == 2 and losses[1] < losses[0]  # the pretrained model learns the corpus
    base = torch.load(tmp_path / "ckpt" / "final_model.pt", weights_only=False)["config"]["model"]["base"]
    assert (base["source"], base["resolved_revision"]) == ("tiny-org/tiny-gpt2", COMMIT)
    assert list(base["weights_sha256"]) == ["model.safetensors"]

    (tmp_path / "other").mkdir()
    missing = pretrained_workflow(tmp_path / "other", "tiny-org/no-such-model", "causal-lm")
    done = offline_cli("validate", str(missing), cwd=tmp_path, cache=cache)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "error: "
        f"{missing}: node 'Pretrained' field 'source': 'tiny-org/no-such-model' is neither a folder (relative to "
        "the workflow file) nor a model in the local Hugging Face cache, and offline (HF_HUB_OFFLINE is set)"]


def _custom_code_folder(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "tiny_custom", "auto_map": {
        "AutoConfig": "configuration_tiny.TinyConfig", "AutoModelForCausalLM": "modeling_tiny.TinyModel"}}))
    return folder


@pytest.mark.parametrize("case", ["not_a_model", "needs_trust", "wrong_task", "lora_with_first_layers"])
def test_each_bad_input_is_one_line_with_exit_2(case: str, tiny_models: Path, tmp_path: Path) -> None:
    source, task, params = str(tiny_models / "gpt2"), "causal-lm", {}
    if case == "not_a_model":
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "readme.txt").write_text("not a model")
        source = "notes"
        expected = f"field 'source': {tmp_path / 'notes'} is not a model in Hugging Face format (no config.json)"
    elif case == "needs_trust":
        source = str(_custom_code_folder(tmp_path / "custom"))
        expected = (f"field 'trust_remote_code': {source} ships its own Python code (auto_map in config.json) for "
                    "model type 'tiny_custom'; turn on trust_remote_code to run it, only if you trust that code")
    elif case == "wrong_task":
        source = str(tiny_models / "vit")
        expected = (f"field 'task': a vit model ({source}) has no causal-lm head in transformers (it has: "
                    "image-classification)")
    else:
        params = {"lora_r": 4, "freeze": "first-layers"}
        expected = "field 'freeze': LoRA already freezes the whole base model; set freeze to none"
    workflow = pretrained_workflow(tmp_path, source, task, **params)
    code, out, err = cli("validate", str(workflow), cwd=tmp_path)
    assert code == 2 and err.splitlines() == [f"error: {workflow}: node 'Pretrained' {expected}"]


def test_loading_the_nodes_does_not_import_transformers_or_peft() -> None:
    code = "import sys; from nodeflow.core import default_registry; default_registry(); " \
           "print(sorted(m for m in ('transformers', 'peft') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.split() == ["[]"], done.stderr  # a workflow without a Pretrained node never pays for them
