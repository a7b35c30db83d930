"""A Pretrained checkpoint back in Hugging Face format: `nodeflow ckpt export CKPT DEST --format hf`.

DEST becomes a folder that transformers loads on its own (`AutoModelFor<task>.from_pretrained(DEST)`):
the model with its LoRA adapter merged into the base weights, and the base's tokenizer or image
processor beside it. With `adapter`, the folder holds the PEFT adapter instead (PeftModel.from_pretrained
over the base model). Either way the folder is written in a temporary folder beside DEST, loaded back
from there with transformers (and PEFT) alone, run on the sample batches and compared with the
checkpoint's model: only when the largest difference is within TOLERANCE does it take DEST's place.
TOLERANCE is absolute for outputs up to 1 in size and relative above (1e-5 of the largest output):
float32 holds a logit of 100 to about 8e-6, so merging LoRA into a large model's weights moves its
logits by a few of those steps, while a wrong merge moves them by whole units.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.files import atomic_write_text, not_a_file, sha256_of
from nodeflow.core.outputs import RECORD, RECORD_FORMAT, owned
from nodeflow.pretrained import TASK_CLASSES
from nodeflow.pretrained.build import TYPE
from nodeflow.pretrained.loading import load_processor
from nodeflow.pretrained.source import relocate
from nodeflow.pretrained.wrapper import PretrainedModel

TOLERANCE, TOLERANCE_TEXT = 1e-5, "1e-5"  # of max(1, the largest |output|)
INFO = "nodeflow_export.json"  # what was exported, from which checkpoint, how it was checked


class ExportMismatch(Exception):
    """The folder loaded back does not give the checkpoint's outputs (nothing was written at DEST)."""


@dataclass(frozen=True)
class HfExport:
    dest: Path
    what: str  # "model, LoRA merged" ...
    loads_with: str  # the Python line that loads it
    difference: float
    sizes: tuple[int, ...]

    def line(self) -> str:
        sizes = " and ".join(str(n) for n in self.sizes)
        return (f"{self.dest} ({self.what}; {self.loads_with}); max |difference| against the checkpoint's model "
                f"{self.difference:.1e} on batches of {sizes} "
                f"(tolerance {TOLERANCE_TEXT}, relative to outputs above 1)")


def dest_problem(dest: Path, force: bool) -> str:
    """Why writing the folder `dest` would destroy what NodeFlow did not write ('' when it is safe)."""
    special = not_a_file(dest)
    if special and special != "a folder":
        return f"{dest} is {special}; choose another path"
    if not dest.exists() or force or (dest.is_dir() and own_folder(dest)):
        return ""
    what = "a file" if dest.is_file() else "a folder NodeFlow did not write (or one changed since)"
    return f"{dest} exists and is {what}; --force replaces it, or choose another path"


def own_folder(folder: Path) -> bool:
    """Every file in `folder` is one an earlier export wrote there, unchanged since."""
    names = [p for p in folder.iterdir() if p.name != RECORD]
    return bool(names) and all(p.is_file() and owned(p) for p in names)


def export_hf(model: Any, checkpoint: dict[str, Any], source: Path, dest: Path, batches: Sequence[torch.Tensor],
              force: bool = False, adapter: bool = False) -> HfExport:
    """Write `model` (rebuilt from `checkpoint`) as a Hugging Face folder at `dest`, checked on `batches`."""
    config = (checkpoint.get("config") or {}).get("model") or {}
    if not isinstance(model, PretrainedModel) or config.get("type") != TYPE:
        raise CheckpointError(Issue(f"--format hf exports a Pretrained model (Hugging Face format); this checkpoint's "
                                    f"model is {config.get('type') or type(model).__name__} (use --format onnx or "
                                    "torchscript)", file=str(source)))
    from peft import PeftModel

    wrapped: Any = model.hf  # a transformers model, or PEFT's wrapper of one
    lora = isinstance(wrapped, PeftModel)
    if adapter and not lora:
        raise CheckpointError(Issue("--adapter: this checkpoint's model has no LoRA adapter (lora_r is 0); export it "
                                    "without --adapter", file=str(source)))
    outside = sorted({k.removeprefix("hf.base_model.model.").rsplit(".", 1)[0] for k in model.nodeflow_new_keys
                      if ".original_module." not in k})  # made from the seed, and not part of the adapter
    if adapter and outside:
        raise CheckpointError(Issue(f"--adapter: the base model's files have no {', '.join(outside)}: NodeFlow made "
                                    "it from the seed and a PEFT adapter does not hold it, so the adapter over the "
                                    "base would not be this model; export without --adapter (merged)",
                                    file=str(source)))
    problem = dest_problem(dest, force)
    if problem:
        raise CheckpointError(Issue(problem))
    base, task = dict(config.get("base") or {}), model.task
    located = relocate(base)  # the base's own folder: its processor, and the base under an adapter
    processor = load_processor(located.folder, str(located.folder), task, False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.export-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # transformers' and PEFT's notices about their own deprecations
            loaded = write_folder(work, wrapped, adapter, base, located.folder, model)
        if processor is not None:
            processor.save_pretrained(work)
        difference = compare(model, PretrainedModel(loaded.eval(), task, model.pad_token_id, model.block_size),
                             batches, dest)
        what, loads_with = describe(model, lora, adapter, dest, base)
        info = {"format": "hf", "exported": what, "loads_with": loads_with, "checkpoint": str(source),
                "task": task, "labels": config.get("labels") or [], "pad_token_id": model.pad_token_id,
                "base": base, "max_abs_difference": difference, "checked_batches": [len(b) for b in batches],
                "config": checkpoint.get("config") or {}}
        (work / INFO).write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
        record(work)
        put_in_place(work, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return HfExport(dest, what, loads_with, difference, tuple(len(b) for b in batches))


def write_folder(work: Path, wrapped: Any, adapter: bool, base: dict[str, Any], base_folder: Path,
                 model: PretrainedModel) -> Any:
    """Save the model (or its adapter) in `work`; the transformers model read back from there."""
    if adapter:
        wrapped.peft_config["default"].base_model_name_or_path = base.get("folder") or base.get("source")
        wrapped.peft_config["default"].revision = None if base.get("folder") else base.get("resolved_revision")
        wrapped.save_pretrained(work)
        return load_adapter(work, base_folder, model)
    import transformers
    from peft import PeftModel

    (copy.deepcopy(wrapped).merge_and_unload() if isinstance(wrapped, PeftModel) else wrapped).save_pretrained(work)
    return getattr(transformers, TASK_CLASSES[model.task]).from_pretrained(str(work), local_files_only=True)


def base_kwargs(model: PretrainedModel) -> dict[str, Any]:
    """What loading the base for the adapter takes beside the folder: the head's size, GPT-2's pad id."""
    kwargs: dict[str, Any] = {}
    if model.nodeflow_config.get("num_labels"):
        kwargs |= {"num_labels": int(model.nodeflow_config["num_labels"]), "ignore_mismatched_sizes": True}
    if model.task == "sequence-classification" and model.pad_token_id is not None:
        kwargs["pad_token_id"] = model.pad_token_id  # the Pretrained node sets it where the config has none
    return kwargs


def load_adapter(folder: Path, base_folder: Path, model: PretrainedModel) -> Any:
    """The adapter in `folder` over the base model, read as the line describe() prints does."""
    import transformers
    from peft import PeftModel

    auto = getattr(transformers, TASK_CLASSES[model.task])
    base = auto.from_pretrained(str(base_folder), local_files_only=True, **base_kwargs(model))
    return PeftModel.from_pretrained(base, str(folder))


def compare(model: torch.nn.Module, loaded: torch.nn.Module, batches: Sequence[torch.Tensor], dest: Path) -> float:
    """Largest |loaded - model| over the batches; ExportMismatch past TOLERANCE."""
    worst = 0.0
    model.eval()
    for batch in batches:
        with torch.no_grad():
            expected, got = model(batch), loaded(batch)
        if got.shape != expected.shape:
            raise ExportMismatch(f"{dest}: on a batch of {len(batch)} the folder's model gives {tuple(got.shape)}, "
                                 f"the checkpoint's {tuple(expected.shape)}; nothing written")
        diff = float((got.float() - expected.float()).abs().max()) if got.numel() else 0.0
        scale = max(1.0, float(expected.float().abs().max()) if expected.numel() else 1.0)
        if not diff <= TOLERANCE * scale:  # NaN too
            raise ExportMismatch(f"{dest}: max |difference| against the checkpoint's model {diff:.1e} on a batch of "
                                 f"{len(batch)} exceeds {TOLERANCE_TEXT}" + (f" x {scale:.3g}, its largest output"
                                 if scale > 1 else "") + "; nothing written")
        worst = max(worst, diff)
    return worst


def describe(model: PretrainedModel, lora: bool, adapter: bool, dest: Path, base: dict[str, Any]) -> tuple[str, str]:
    """(what the folder holds, the Python line that loads it)."""
    auto = TASK_CLASSES[model.task]
    if adapter:
        where = base.get("folder") or base.get("source")
        kwargs = "".join(f", {k}={v!r}" for k, v in base_kwargs(model).items())
        return "LoRA adapter", (f"PeftModel.from_pretrained({auto}.from_pretrained({str(where)!r}{kwargs}), "
                                f"{str(dest)!r})")
    return ("model, LoRA merged" if lora else "model"), f"{auto}.from_pretrained({str(dest)!r})"


def record(folder: Path) -> None:
    """The folder's output record: every file in it is NodeFlow's, as written (core.outputs' rule)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    files = {p.name: {"size": p.stat().st_size, "sha256": sha256_of(p), "writer": "ckpt export", "time": stamp}
             for p in sorted(folder.iterdir()) if p.is_file()}
    atomic_write_text(folder / RECORD, json.dumps({"format": RECORD_FORMAT, "version": 1, "files": files},
                                                  indent=2) + "\n")


def put_in_place(work: Path, dest: Path) -> None:
    """`work` becomes `dest`; what stood there (checked by dest_problem) goes only once the new one is in."""
    old = dest.parent / f".{dest.name}.replaced-{os.getpid()}"
    if dest.exists():
        os.replace(dest, old)
    os.replace(work, dest)
    if old.is_dir():
        shutil.rmtree(old)
    elif old.exists():
        old.unlink()
