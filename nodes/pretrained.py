"""Pretrained: a model in Hugging Face format (a local folder or a hub id) to fine-tune.

Loaded with transformers by task (nodeflow/pretrained/ has the loading, freezing, LoRA and the
identity a checkpoint records); transformers and PEFT are imported only when this node checks
or runs. Its second output is the model's own tokenizer or image processor, for the data nodes.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeflow.core.errors import DataError
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec, RunContext
from nodeflow.core.tasks import CLASSIFICATION, LANGUAGE_MODELLING, SEQUENCE_CLASSIFICATION, either
from nodeflow.pretrained import CLASSIFYING, FREEZE_MODES, TASK_NAMES
from nodes.processor_input import IMAGE_PROCESSOR, TOKENIZER, kind_for_task

# the data each task trains on (masked-lm: none of the Trainer's tasks)
DATA_TASKS = {"sequence-classification": SEQUENCE_CLASSIFICATION, "causal-lm": LANGUAGE_MODELLING,
              "image-classification": CLASSIFICATION}


def source_problem(params: Mapping[str, Any], base_dir: Path) -> tuple[str, str] | None:
    """(field, why) the source cannot be loaded for the task, found without loading the model."""
    from nodeflow.pretrained.loading import config_problem, read_config
    from nodeflow.pretrained.source import cached_snapshot, is_hub_id, local_folder, offline

    source = params["source"].strip()
    if not source:
        return "source", "name a folder in Hugging Face format or a hub id (e.g. gpt2)"
    folder = local_folder(source, base_dir)
    if folder is None and not is_hub_id(source):
        return "source", f"no such folder: {source} (relative to the workflow file)"
    if folder is None:
        folder = cached_snapshot(source, params["revision"])
        if folder is None:  # not cached: downloaded at run time, unless offline
            return ("source", f"{source!r} is neither a folder (relative to the workflow file) nor a model in the "
                    "local Hugging Face cache, and offline (HF_HUB_OFFLINE is set)") if offline() else None
    label = source if folder.parent.name == "snapshots" else str(folder)
    try:
        field, why = config_problem(read_config(folder, label), label, params["task"], params["trust_remote_code"])
    except DataError as exc:
        return exc.issues[0].field, exc.issues[0].message
    return (field, why) if why else None


def model_files(params: Mapping[str, Any], base_dir: Path) -> dict[str, Path]:
    """The files of the model's folder (weights, config, tokenizer), named as the user sees them:
    what a run with reuse compares (size, time, and a SHA-256 of those under 16 MiB), so a base
    whose weights changed under the same name trains again. A hub id not yet cached has none."""
    from nodeflow.pretrained.source import cached_snapshot, is_hub_id, local_folder

    source = params["source"].strip()
    folder = local_folder(source, base_dir) if source else None
    if folder is None and source and is_hub_id(source):
        folder = cached_snapshot(source, params["revision"])
    if folder is None:
        return {}
    return {f"{source}/{p.name}": p for p in sorted(folder.iterdir()) if p.is_file()}


def check(c: CheckInput) -> list[tuple[str, str]]:
    p, problems = c.params, []
    if p["lora_r"] and p["freeze"] == "first-layers":
        problems.append(("freeze", "LoRA already freezes the whole base model; set freeze to none"))
    if "dataset" in c.linked_inputs:
        given, wanted = c.input_tasks.get("dataset"), DATA_TASKS.get(p["task"])
        if wanted is None:
            problems.append(("task", f"a {p['task']} model is not trained on linked data (the Trainer has no "
                                     f"masked-token task); use {either(list(DATA_TASKS))}"))
        elif given and wanted not in given:
            problems.append(("task", f"{p['task']} trains on {wanted.replace('_', ' ')} data; the linked data is "
                                     f"{either([t.replace('_', ' ') for t in given])}"))
    found = source_problem(p, c.base_dir)
    return problems + ([found] if found else [])


def warn(params: Mapping[str, Any]) -> str:
    if not params["trust_remote_code"]:
        return ""
    return f"this workflow runs Python code shipped with {params['source']}: open it only if you trust that code"


def run(ctx: RunContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    from nodeflow.pretrained.build import Fit, build
    from nodeflow.pretrained.freezing import counts

    data = inputs.get("dataset")
    fit = Fit()
    if data is not None:
        classes = len(data.class_names) if params["task"] in CLASSIFYING else 0
        vocab = int(data.info.get("vocab_size", 0)) if params["task"] != "image-classification" else 0
        fit = Fit(tuple(data.class_names), classes, tuple(data.input_shape), vocab)
    model, processor = build(params, Path(ctx.base_dir), fit)
    trainable, total = counts(model)
    base = model.nodeflow_base
    how = f"LoRA r={params['lora_r']}" if params["lora_r"] else f"freeze {params['freeze']}"
    ctx.log(f"Pretrained {params['source']} ({params['task']}, revision {base['resolved_revision'][:12]}): "
            f"{total:,} parameters, {trainable:,} trainable ({how})"
            + ("" if processor is not None else "; the folder has no tokenizer or image processor"))
    return {"model": model, "processor": processor}


def rebuild(config: Mapping[str, Any]) -> Any:
    from nodeflow.pretrained.build import rebuild as rebuild_model

    return rebuild_model(config)


MODEL = "Model"
PRETRAINED = NodeSpec(
    type="model.pretrained", title="Pretrained", category="Models", run=run, check=check, rebuild=rebuild,
    warning=lambda p: warn(p), reads=model_files, sections=(MODEL, "Freezing", "LoRA"), collapsed=("LoRA",),
    inputs=(PortSpec("dataset", "dataset", "Training data: sets the number of labels (optional)", optional=True,
                     tasks=(SEQUENCE_CLASSIFICATION, LANGUAGE_MODELLING, CLASSIFICATION)),),
    outputs=(PortSpec("model", "model", "The pretrained model, ready to fine-tune"),
             PortSpec("processor", "processor", "Its tokenizer (text tasks) or image processor (image-classification); "
                      "empty when the folder has none", optional=True, tasks=(TOKENIZER, IMAGE_PROCESSOR),
                      gives=kind_for_task)),
    description="A model in Hugging Face format (a local folder, or a hub id: from the Hugging Face cache, "
                "downloaded only when online) loaded with transformers by task, to fine-tune: frozen layers "
                "or a LoRA adapter (PEFT).",
    params=(
        ParamSpec("source", "str", "", "A folder in Hugging Face format (relative to the workflow file) or a hub "
                  "id such as gpt2 or google-bert/bert-base-uncased", group=MODEL, on_node=True),
        ParamSpec("revision", "str", "", "Hub branch, tag or commit (empty: main); pin a commit so the base "
                  "cannot change under a run", group=MODEL),
        ParamSpec("task", "choice", "sequence-classification", "Which head: transformers' AutoModelFor... class",
                  choices=TASK_NAMES, group=MODEL, on_node=True),
        ParamSpec("num_labels", "int", 0, "Classes of a classifying head (0: the linked data's, else the "
                  "model's own)", min=0, max=1_000_000, group=MODEL),
        ParamSpec("trust_remote_code", "bool", False, "Run Python code shipped with the model (models "
                  "transformers does not know); only for code you trust", group=MODEL),
        ParamSpec("seed", "int", 0, "Seed of the new weights (a new head, the LoRA adapter)", min=0,
                  max=2**31 - 1, group=MODEL),
        ParamSpec("freeze", "choice", "none", "none: all trains; all-but-head: only the task head trains; "
                  "first-layers: the embeddings and the first freeze_layers layers stay as loaded",
                  choices=FREEZE_MODES, group="Freezing", on_node=True),
        ParamSpec("freeze_layers", "int", 1, "Layers frozen by first-layers", min=1, max=10_000, group="Freezing"),
        ParamSpec("lora_r", "int", 0, "Rank of the LoRA adapter (0: no LoRA); the base model is frozen",
                  min=0, max=4096, group="LoRA"),
        ParamSpec("lora_alpha", "int", 16, "LoRA scale numerator (the update is scaled by alpha / r)", min=1,
                  max=65536, group="LoRA"),
        ParamSpec("lora_dropout", "float", 0.05, "Dropout on the adapter's input", min=0.0, max=0.9, group="LoRA"),
        ParamSpec("lora_targets", "str", "", "Layers to adapt, comma-separated module names (empty: PEFT's "
                  "defaults for the model type)", choices=("q_proj,v_proj", "query,value", "c_attn"), group="LoRA"),
    ),
)

NODES = [PRETRAINED]
