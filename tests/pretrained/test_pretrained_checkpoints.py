"""What a Pretrained checkpoint holds and when it is refused: a LoRA run saves its adapter alone (a
file a fraction of a full fine-tune's); loading wants exactly the keys that trained; a base model whose
weights changed, or that is gone, is refused in one line by every path that reloads one (export,
resume, a reused Trainer), and the run's files stay as they were."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from nodeflow.checkpoints.manifest import read_entries, verify_file
from tests.conftest import run_cli
from tests.reliability.test_fuzz_workflows import cli
from tests.pretrained.runs import SHIPPED, train_args, trained_run, workflow


def test_a_lora_checkpoint_holds_the_adapter_alone_and_is_a_fraction_of_a_full_fine_tune(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    lora, full = (trained_run(tmp_path_factory, case) / "final_model.pt" for case in ("lora", "full"))
    small, big = torch.load(lora), torch.load(full)  # plain torch.load (weights_only) opens both
    assert small["model_state_is"] == "trainable" and "model_state_is" not in big
    assert small["model_state_dict"] and all(".lora_" in key for key in small["model_state_dict"])
    assert "hf.base_model.model.transformer.h.0.attn.c_attn.base_layer.weight" not in small["model_state_dict"]
    values = [sum(t.numel() for t in ckpt["model_state_dict"].values()) for ckpt in (small, big)]
    assert values[0] * 100 < values[1]  # 4,096 adapter values against the model's 564,736
    assert lora.stat().st_size * 20 < full.stat().st_size


def test_loading_wants_exactly_the_keys_that_trained(tmp_path_factory: pytest.TempPathFactory,
                                                     tmp_path: Path) -> None:
    checkpoint = torch.load(trained_run(tmp_path_factory, "lora") / "final_model.pt")
    weights = checkpoint["model_state_dict"]
    lost = sorted(key for key in weights if ".lora_B." in key)[-1]
    torch.save({**checkpoint, "model_state_dict": {k: v for k, v in weights.items() if k != lost}}, tmp_path / "a.pt")
    done = run_cli("ckpt", "export", "a.pt", "out", "--format", "hf", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"error: a.pt: weights do not fit the saved config: the checkpoint has no {lost!r}"]

    frozen = "hf.base_model.model.transformer.wte.weight"  # a base weight: it stays as the base's files hold it
    torch.save({**checkpoint, "model_state_dict": {**weights, frozen: torch.zeros(1024, 128)}}, tmp_path / "b.pt")
    done = run_cli("ckpt", "export", "b.pt", "out", "--format", "hf", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"error: b.pt: weights do not fit the saved config: the saved config keeps {frozen!r} frozen "
        "(the checkpoint trained it)"]
    assert not (tmp_path / "out").exists()


def with_evaluate(path: Path) -> Path:
    """The workflow with an Evaluate node scoring the Trainer's model on the validation blocks."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["nodes"]["eval"] = {"type": "eval.evaluate", "version": 1, "name": "Evaluate", "params": {}}
    doc["links"] += [{"from": {"node": "trainer", "port": "model"}, "to": {"node": "eval", "port": "model"}},
                     {"from": {"node": "data", "port": "val"}, "to": {"node": "eval", "port": "dataset"}}]
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_base_model_changed_or_gone_is_refused_in_one_line_and_the_run_stays_intact(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    base = tmp_path / "base"
    shutil.copytree(SHIPPED / "tiny_gpt2", base)
    path = with_evaluate(workflow(tmp_path, "lora", base))
    assert run_cli("run", str(path), *train_args("full"), "--reuse", cwd=tmp_path).returncode == 0
    final = tmp_path / "ckpt" / "final_model.pt"
    saved = final.read_bytes()
    weights = load_file(base / "model.safetensors")
    weights["transformer.wte.weight"][0, 0] += 0.01  # one value of the base's token embedding
    save_file(weights, base / "model.safetensors", metadata={"format": "pt"})

    # the refusals run in this process (a child would import torch and transformers again for each)
    changed = "the base model's weight file model.safetensors has changed"
    code, _, err = cli("ckpt", "export", "ckpt/final_model.pt", "out", "--format", "hf", cwd=tmp_path)
    assert code == 2 and err.splitlines() == [
        f"error: ckpt/final_model.pt: field 'source': {changed} in {base} since the checkpoint was saved"]
    code, _, err = cli("run", str(path), *train_args("full"), "--set", "Trainer.epochs=2", "--resume", "auto",
                   cwd=tmp_path)
    assert code == 2 and err.splitlines() == [
        f"error: {path}: node 'Trainer' field 'resume': cannot resume: {changed} since the checkpoint was saved "
        "(the checkpoint holds only the trained parameters, which fit that base alone)"]
    # the base's files are part of the Pretrained node's reuse key: the Trainer would train again, and its
    # folder holds the last run, so nothing starts
    code, _, err = cli("run", str(path), *train_args("full"), "--reuse", cwd=tmp_path)
    assert code == 2 and err.startswith(f"error: {path}: node 'Trainer' field 'checkpoint_dir': "), \
        err
    assert "nothing was written" in err and len(err.strip().splitlines()) == 1
    assert final.read_bytes() == saved
    assert all(verify_file(final.parent / n, e) is None for n, e in read_entries(final.parent).items())

    shutil.rmtree(base)
    code, _, err = cli("ckpt", "export", "ckpt/final_model.pt", "out", "--format", "hf", cwd=tmp_path)
    assert code == 2 and err.splitlines() == [
        f"error: ckpt/final_model.pt: field 'source': the base model's folder {base} is gone"]
    assert not (tmp_path / "out").exists()
