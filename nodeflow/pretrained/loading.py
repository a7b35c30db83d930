"""Reading a model folder with transformers: its config checked first, then the model and its processor.

transformers is imported here, inside the functions, so loading NodeFlow's nodes does not pay for
it. Every file is read from the folder with `local_files_only=True`: finding (and downloading) the
folder is source.py's job. Its own log lines and progress bars are quietened to errors.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from nodeflow.core.errors import DataError, Issue
from nodeflow.pretrained import TASK_CLASSES, TASK_NAMES

# task -> transformers' table of the model types that have that head
TASK_TABLES = {
    "sequence-classification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "causal-lm": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "masked-lm": "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "image-classification": "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model", "tokenizer.model")
IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def _transformers() -> Any:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def read_config(folder: Path, label: str) -> dict[str, Any]:
    """The folder's config.json; a DataError when the folder is not a model in Hugging Face format."""
    path = folder / "config.json"
    if not path.is_file():
        raise DataError(Issue(f"{label} is not a model in Hugging Face format (no config.json)", field="source"))
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(Issue(f"{label}: cannot read config.json: {_first_line(exc)}", field="source")) from None
    if not isinstance(config, dict):
        raise DataError(Issue(f"{label}: config.json is not a JSON object", field="source"))
    return config


def config_problem(config: dict[str, Any], label: str, task: str, trust: bool) -> tuple[str, str]:
    """(field, why) the model in `config` cannot be loaded for `task`, or ('', '')."""
    from transformers.models.auto import modeling_auto
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING_NAMES:
        if config.get("auto_map"):
            if trust:
                return "", ""  # its own code decides which heads it has
            return ("trust_remote_code", f"{label} ships its own Python code (auto_map in config.json) for model "
                    f"type {model_type!r}; turn on trust_remote_code to run it, only if you trust that code")
        what = f"model_type {model_type!r} is not one transformers knows" if model_type else "has no model_type"
        return "source", f"{label} is not a model in Hugging Face format: its config.json {what}"
    if model_type in getattr(modeling_auto, TASK_TABLES[task]):
        return "", ""
    fits = [t for t in TASK_NAMES if model_type in getattr(modeling_auto, TASK_TABLES[t])]
    return "task", (f"a {model_type} model ({label}) has no {task} head in transformers (it has: "
                    f"{', '.join(fits) or 'none of ' + ', '.join(TASK_NAMES)})")


def check_folder(folder: Path, label: str, task: str, trust: bool) -> None:
    field, why = config_problem(read_config(folder, label), label, task, trust)
    if why:
        raise DataError(Issue(why, field=field))


def load_model(folder: Path, label: str, task: str, labels: tuple[str, ...], num_labels: int,
               trust: bool) -> tuple[nn.Module, list[str]]:
    """The transformers model of `task` from `folder`, a classifying head sized to the labels (its
    weights new when the saved head has another size), and the names of the weights the folder does
    not hold (made from the seed: a new head, a pooler a masked-LM base lacks)."""
    check_folder(folder, label, task, trust)
    auto = getattr(_transformers(), TASK_CLASSES[task])
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust, "output_loading_info": True}
    if num_labels:
        names = labels if len(labels) == num_labels else tuple(f"LABEL_{i}" for i in range(num_labels))
        kwargs |= {"num_labels": num_labels, "ignore_mismatched_sizes": True,
                   "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
    try:
        model, info = auto.from_pretrained(str(folder), **kwargs)
    except Exception as exc:  # a broken or unsupported folder: one line naming it
        raise DataError(Issue(f"cannot load {label} as {task}: {_first_line(exc)}", field="source")) from None
    mismatched = [m[0] if isinstance(m, (tuple, list)) else m for m in info.get("mismatched_keys") or ()]
    return model, sorted({str(k) for k in [*(info.get("missing_keys") or ()), *mismatched]})


def load_processor(folder: Path, label: str, task: str, trust: bool) -> Any:
    """The folder's tokenizer (text) or image processor (images), or None when it ships none.

    A tokenizer without a padding token (GPT-2's) pads with its end-of-text token."""
    transformers = _transformers()
    image = task == "image-classification"
    files = IMAGE_PROCESSOR_FILES if image else TOKENIZER_FILES
    if not any((folder / name).is_file() for name in files):
        return None
    auto = transformers.AutoImageProcessor if image else transformers.AutoTokenizer
    try:
        processor = auto.from_pretrained(str(folder), local_files_only=True, trust_remote_code=trust)
    except Exception as exc:
        what = "image processor" if image else "tokenizer"
        raise DataError(Issue(f"cannot load the {what} of {label}: {_first_line(exc)}", field="source")) from None
    if not image and processor.pad_token is None and processor.eos_token is not None:
        processor.pad_token = processor.eos_token
    return processor
