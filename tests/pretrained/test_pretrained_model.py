"""The Pretrained node's model side, in process: each task built from a folder in Hugging Face format,
the frozen set each freeze mode leaves, LoRA's small trainable share over a frozen base, and the base's
identity (a changed weight file is refused on rebuild)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from nodeflow.core.errors import DataError
from nodeflow.pretrained.build import Fit, build, rebuild
from nodeflow.pretrained.source import sha256
from nodes.pretrained import PRETRAINED

DEFAULTS = PRETRAINED.defaults()


def made(root: Path, source: str, task: str, fit: Fit | None = None, **params):
    return build(DEFAULTS | {"source": source, "task": task} | params, root, fit or Fit())


def trainable(model: torch.nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_each_task_gives_what_the_trainers_tasks_take(tiny_models: Path) -> None:
    ids = torch.randint(1, 100, (2, 12))
    lm, tokenizer = made(tiny_models, "gpt2", "causal-lm", Fit(input_shape=(12,), vocab=50))
    assert lm(ids).shape == (2, 12, 300)  # next-token logits over the model's vocabulary
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"  # GPT-2 pads with end-of-text
    classifier, tokenizer = made(tiny_models, "bert", "sequence-classification", Fit(("bad", "good", "meh"), 3))
    assert classifier(ids).shape == (2, 3) and tokenizer.pad_token_id == 0
    assert classifier.nodeflow_config["labels"] == ["bad", "good", "meh"]  # the head named after the data's classes
    masked, _ = made(tiny_models, "bert", "masked-lm")
    assert masked(ids).shape == (2, 12, 106)
    images, processor = made(tiny_models, "vit", "image-classification", Fit(("a", "b", "c", "d"), 4, (3, 8, 8)))
    assert images(torch.rand(2, 3, 8, 8)).shape == (2, 4)  # a new 4-class head on a model saved with 2
    assert (processor.size["height"], processor.size["width"]) == (8, 8)


def test_padding_does_not_change_a_texts_class(tiny_models: Path) -> None:
    model, tokenizer = made(tiny_models, "gpt2", "sequence-classification", Fit(("a", "b"), 2))
    model.eval()
    short = torch.tensor([tokenizer.encode("the film was good")])
    padded = torch.cat([short, torch.full((1, 5), tokenizer.pad_token_id)], dim=1)
    assert torch.allclose(model(short), model(padded), atol=1e-5)  # the head reads the last token, not the padding


def test_freeze_modes_leave_exactly_the_expected_params_trainable(tiny_models: Path) -> None:
    fit = Fit(("a", "b"), 2)
    everything, _ = made(tiny_models, "bert", "sequence-classification", fit)
    names = {name for name, _ in everything.named_parameters()}
    assert trainable(everything) == names
    head, _ = made(tiny_models, "bert", "sequence-classification", fit, freeze="all-but-head")
    assert trainable(head) == {"hf.classifier.weight", "hf.classifier.bias"}
    first, _ = made(tiny_models, "bert", "sequence-classification", fit, freeze="first-layers", freeze_layers=1)
    frozen = {n for n in names if n.startswith(("hf.bert.embeddings.", "hf.bert.encoder.layer.0."))}
    assert frozen and trainable(first) == names - frozen  # layer 1, pooler and head train
    with pytest.raises(DataError, match="field 'freeze_layers': freeze_layers 3 is more than the model's 2 layers"):
        made(tiny_models, "bert", "sequence-classification", fit, freeze="first-layers", freeze_layers=3)


def test_lora_trains_a_small_adapter_over_a_frozen_base(tiny_models: Path) -> None:
    model, _ = made(tiny_models, "gpt2", "causal-lm", lora_r=2)
    share = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad) / sum(
        p.numel() for p in model.parameters())
    assert trainable(model) and all("lora_" in n for n in trainable(model)) and share < 0.05
    classifier, _ = made(tiny_models, "bert", "sequence-classification", Fit(("a", "b"), 2), lora_r=2)
    assert {n for n in trainable(classifier) if "lora_" not in n} == {  # the new head trains in full
        "hf.base_model.model.classifier.modules_to_save.default.weight",
        "hf.base_model.model.classifier.modules_to_save.default.bias"}
    with pytest.raises(DataError, match=r"field 'lora_targets': ViTForImageClassification has no layers named "
                                        r"query, value; .*\(its linear layers: q_proj, k_proj, v_proj"):
        made(tiny_models, "vit", "image-classification", lora_r=2, lora_targets="query,value")


def test_identity_names_the_weights_and_a_changed_file_is_refused(tiny_models: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_models / "gpt2", tmp_path / "gpt2")
    weights = tmp_path / "gpt2" / "model.safetensors"
    model, _ = made(tmp_path, "gpt2", "causal-lm", lora_r=2)
    base = model.nodeflow_base
    assert base == model.nodeflow_config["base"]
    assert (base["source"], base["resolved_revision"], base["folder"]) == ("gpt2", "local", str(tmp_path / "gpt2"))
    assert base["weights_sha256"] == {"model.safetensors": sha256(weights)}
    with torch.no_grad():  # the trained adapter, as a checkpoint's state dict would bring it back
        next(p for n, p in model.named_parameters() if "lora_B" in n).add_(0.5)
    again = rebuild(model.nodeflow_config)  # from the record alone, the folder found by its absolute path
    again.load_state_dict(model.state_dict())
    ids = torch.randint(0, 300, (1, 8))
    assert torch.equal(again.eval()(ids), model.eval()(ids))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    changed, _ = made(tmp_path, "gpt2", "causal-lm")
    assert changed.nodeflow_base["weights_sha256"] != base["weights_sha256"]
    with pytest.raises(DataError) as refused:
        rebuild(model.nodeflow_config)
    assert str(refused.value) == (f"field 'source': the base model's weight file model.safetensors has changed in "
                                  f"{tmp_path / 'gpt2'} since the checkpoint was saved")


def test_a_lora_run_trains_the_adapter_and_head_and_leaves_the_base_as_loaded(tiny_models: Path, tmp_path: Path,
                                                                              monkeypatch) -> None:
    import nodeflow
    from safetensors.torch import load_file

    from tests.pretrained.workflows import pretrained_workflow

    monkeypatch.chdir(tmp_path)
    workflow = nodeflow.load(pretrained_workflow(tmp_path, str(tiny_models / "bert"), "sequence-classification",
                                                 lora_r=4))
    workflow["Trainer"].params["epochs"] = 3
    result = workflow.run(progress=False)
    losses = result["Trainer"]["history"]["epoch_losses"]
    assert losses[-1] < losses[0]
    model = result["Trainer"]["model"]
    saved = load_file(str(tiny_models / "bert" / "model.safetensors"))
    state = model.base_model().state_dict()
    base = {k.replace(".base_layer", ""): v for k, v in state.items() if "lora_" not in k}
    encoder = [k for k in saved if k.startswith("bert.encoder.")]
    assert len(encoder) > 20 and all(torch.equal(base[k], saved[k]) for k in encoder)
    assert any(float(v.abs().sum()) > 0 for k, v in state.items() if "lora_B" in k)  # starts at zero, trained
