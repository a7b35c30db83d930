"""`nodeflow ckpt export --format hf` (and onnx) of Pretrained checkpoints, loaded back the way a user
would, with transformers, PEFT or onnxruntime alone, and compared with the model NodeFlow rebuilds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import nodeflow
from tests.conftest import WORKFLOWS, build_once, run_cli
from tests.pretrained.runs import SHIPPED, trained_run

TEXT = "the film was good and the music was great"


def rebuilt(folder: Path) -> torch.nn.Module:
    return nodeflow.restore_model(folder / "final_model.pt")[0]


def largest_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


def test_a_lora_model_exports_merged_and_loads_with_transformers_alone(tmp_path_factory: pytest.TempPathFactory,
                                                                      tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = trained_run(tmp_path_factory, "lora")
    done = run_cli("ckpt", "export", str(folder / "final_model.pt"), "gpt", "--format", "hf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(model, LoRA merged; AutoModelForCausalLM.from_pretrained('gpt'))" in done.stdout
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "gpt", local_files_only=True).eval()
    assert not [key for key in model.state_dict() if "lora" in key]  # merged: a plain GPT-2
    ids = AutoTokenizer.from_pretrained(tmp_path / "gpt", local_files_only=True)(TEXT, return_tensors="pt").input_ids
    with torch.no_grad():
        assert largest_difference(model(input_ids=ids).logits, rebuilt(folder)(ids)) <= 1e-5
    info = json.loads((tmp_path / "gpt" / "nodeflow_export.json").read_text(encoding="utf-8"))
    assert info["max_abs_difference"] <= 1e-5 and info["base"]["resolved_revision"] == "local"

    again = run_cli("ckpt", "export", str(folder / "final_model.pt"), "gpt", "--format", "hf", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # its own earlier export, unchanged: replaced
    (tmp_path / "gpt" / "notes.txt").write_text("mine", encoding="utf-8")
    refused = run_cli("ckpt", "export", str(folder / "final_model.pt"), "gpt", "--format", "hf", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.splitlines() == [
        "error: gpt exists and is a folder NodeFlow did not write (or one changed since); --force replaces it, "
        "or choose another path"]
    assert (tmp_path / "gpt" / "notes.txt").is_file()
    forced = run_cli("ckpt", "export", str(folder / "final_model.pt"), "gpt", "--format", "hf", "--force",
                     cwd=tmp_path)
    assert forced.returncode == 0 and not (tmp_path / "gpt" / "notes.txt").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".gpt")]  # no temporary folder left


@pytest.mark.filterwarnings("ignore::FutureWarning")  # PEFT calling a transformers name deprecated in v5
def test_the_adapter_alone_loads_with_peft_over_the_base(tmp_path_factory: pytest.TempPathFactory,
                                                         tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    folder = trained_run(tmp_path_factory, "lora")
    done = run_cli("ckpt", "export", str(folder / "final_model.pt"), "adapter", "--format", "hf", "--adapter",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= \
        {p.name for p in (tmp_path / "adapter").iterdir()}
    base = AutoModelForCausalLM.from_pretrained(SHIPPED / "tiny_gpt2", local_files_only=True)
    model = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    ids = torch.randint(0, 1024, (3, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert largest_difference(model(input_ids=ids).logits, rebuilt(folder)(ids)) <= 1e-5


@pytest.mark.parametrize("case", ["first-layers", "bert-lora"])
def test_a_review_classifier_exports_with_its_labels_and_tokenizer(tmp_path_factory: pytest.TempPathFactory,
                                                                   tmp_path: Path, case: str) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = trained_run(tmp_path_factory, case)
    checkpoint = torch.load(folder / "final_model.pt")
    done = run_cli("ckpt", "export", str(folder / "final_model.pt"), "bert", "--format", "hf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "bert", local_files_only=True).eval()
    labels = checkpoint["config"]["data"]["class_names"]
    assert [model.config.id2label[i] for i in range(len(labels))] == labels == ["negative", "positive"]
    tokens = AutoTokenizer.from_pretrained(tmp_path / "bert", local_files_only=True)([TEXT, "weak"], padding=True,
                                                                                     return_tensors="pt")
    with torch.no_grad():
        logits = model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).logits
        assert largest_difference(logits, rebuilt(folder)(tokens.input_ids)) <= 1e-5  # padding id 0 is masked

    adapter = run_cli("ckpt", "export", str(folder / "final_model.pt"), "adapter", "--format", "hf", "--adapter",
                      cwd=tmp_path)
    why = ("this checkpoint's model has no LoRA adapter (lora_r is 0); export it without --adapter"
           if case == "first-layers" else "the base model's files have no bert.pooler.dense: NodeFlow made it from "
           "the seed and a PEFT adapter does not hold it, so the adapter over the base would not be this model; "
           "export without --adapter (merged)")
    assert adapter.returncode == 2 and adapter.stderr.splitlines() == [
        f"error: {folder / 'final_model.pt'}: --adapter: {why}"]
    assert not (tmp_path / "adapter").exists()


def test_weights_the_base_lacks_come_from_the_checkpoint_not_the_seed(tmp_path_factory: pytest.TempPathFactory,
                                                                       tmp_path: Path) -> None:
    """BERT's pooler is not in a masked-LM base's files: it is saved beside the adapter, so another seed
    (or another transformers initialising it otherwise) rebuilds the same model."""
    folder = trained_run(tmp_path_factory, "bert-lora")
    checkpoint = torch.load(folder / "final_model.pt")
    assert "hf.base_model.model.bert.pooler.dense.weight" in checkpoint["model_state_dict"]
    checkpoint["config"]["model"]["params"]["seed"] = 12345
    torch.save(checkpoint, tmp_path / "reseeded.pt")
    ids = torch.randint(1, 60, (4, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(nodeflow.restore_model(tmp_path / "reseeded.pt")[0](ids), rebuilt(folder)(ids))


def test_a_lora_checkpoint_exports_to_onnx_and_runs_in_onnxruntime(tmp_path_factory: pytest.TempPathFactory,
                                                                   tmp_path: Path) -> None:
    import onnxruntime

    folder = trained_run(tmp_path_factory, "lora")
    done = run_cli("ckpt", "export", str(folder / "final_model.pt"), "gpt.onnx", "--format", "onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ids [batch, 16] int64 -> output [batch, 16, 1024]" in done.stdout
    session = onnxruntime.InferenceSession(str(tmp_path / "gpt.onnx"), providers=["CPUExecutionProvider"])
    ids = torch.randint(0, 1024, (3, 16), generator=torch.Generator().manual_seed(1))
    (logits,) = session.run(None, {"ids": ids.numpy()})
    with torch.no_grad():
        assert largest_difference(torch.from_numpy(np.asarray(logits)), rebuilt(folder)(ids)) <= 1e-4


def test_hf_needs_a_pretrained_checkpoint(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    def build(cwd: Path) -> None:  # the export tests' digits run, shared when they ran first
        result = run_cli("run", str(WORKFLOWS / "digits_cnn.json"), "--set", "Trainer.epochs=1", "--set",
                         "Trainer.checkpoint_dir=ck", cwd=cwd)
        assert result.returncode == 0, result.stderr

    digits = build_once(tmp_path_factory, "export_digits", build) / "ck" / "best_model.pt"
    done = run_cli("ckpt", "export", str(digits), "out", "--format", "hf", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"error: {digits}: --format hf exports a Pretrained model (Hugging Face format); this checkpoint's model is "
        "model.cnn (use --format onnx or torchscript)"]
    done = run_cli("ckpt", "export", str(digits), "out.onnx", "--format", "onnx", "--adapter", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: field '--adapter': --adapter goes with --format hf"]
    assert not list(tmp_path.iterdir())
