"""Pretrained models in Hugging Face format as NodeFlow models (the Pretrained node).

`source.py` finds the model's folder (a local folder, or a hub id in the Hugging Face cache,
downloaded only when online and not yet cached) and its identity (resolved revision, SHA-256
of the weight files); `loading.py` reads it with transformers (imported on first use, not
when this package loads); `freezing.py` freezes layers or adds a LoRA adapter (PEFT);
`wrapper.py` adapts the model's outputs to what the Trainer's tasks take; `build.py` puts
these together and rebuilds a model from the config a checkpoint records, never downloading;
`export.py` writes a checkpoint's model back in Hugging Face format (`ckpt export --format hf`).
Imports nothing of NodeFlow above `nodeflow.core`.
"""
from __future__ import annotations

# task name -> the transformers Auto class that loads it
TASK_CLASSES = {
    "sequence-classification": "AutoModelForSequenceClassification",
    "causal-lm": "AutoModelForCausalLM",
    "masked-lm": "AutoModelForMaskedLM",
    "image-classification": "AutoModelForImageClassification",
}
TASK_NAMES = tuple(TASK_CLASSES)
CLASSIFYING = ("sequence-classification", "image-classification")  # tasks with a head of num_labels classes
FREEZE_MODES = ("none", "all-but-head", "first-layers")
