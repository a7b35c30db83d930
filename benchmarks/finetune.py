"""Fine-tuning benchmark on the shipped tiny BERT (workflows/data/tiny_bert), reviews classification.

Prints, all measured in this script:
1. step time of NodeFlow's TrainingLoop against a hand-written loop over the same transformers
   model and data, and against transformers.Trainer (median of alternating repeats, as ratios);
2. LoRA's trainable parameters as a share of the model's;
3. the checkpoint size of a LoRA run against a full fine-tune (`nodeflow run` children), and the
   size torch.save gives the trainable weights alone;
4. peak RSS of those two runs (each child's own ru_maxrss, from os.wait4);
5. test accuracy of the pretrained start against the same architecture trained from scratch with
   the same budget (the finetune_bert_reviews example's data, split and Trainer settings).

    python benchmarks/finetune.py [--steps 100] [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nodeflow.training.callbacks import ProgressEvents  # noqa: E402
from nodeflow.training.factory import make_loss  # noqa: E402
from nodeflow.training.loop import TrainConfig, TrainingLoop  # noqa: E402
from nodeflow.training.metrics import evaluate  # noqa: E402
from nodes.generators import REVIEWS  # noqa: E402
from nodes.pretrained import PRETRAINED  # noqa: E402
from nodes.split import SPLIT  # noqa: E402

BERT = ROOT / "workflows" / "data" / "tiny_bert"
EXAMPLE = ROOT / "workflows" / "finetune_bert_reviews.json"
BATCH, LR, SEED = 32, 1e-3, 0
LORA = {"lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "lora_targets": "query,value"}


class Ctx:
    node_id = node_name = "benchmark"
    device_override = None
    dry_run = False
    base_dir = ROOT / "workflows"

    def log(self, message: str) -> None: ...

    def emit(self, event: str, **fields: Any) -> None: ...


def pretrained(**params: Any) -> tuple[Any, Any]:
    out = PRETRAINED.run(Ctx(), {}, PRETRAINED.defaults() | {"source": "data/tiny_bert", "num_labels": 2} | params)
    return out["model"], out["processor"]


def data(processor: Any) -> dict[str, Any]:
    """The example's reviews, tokenized by the model's tokenizer, and its split."""
    reviews = REVIEWS.run(Ctx(), {"processor": processor}, REVIEWS.defaults() | {"samples": 2000, "max_length": 24})
    params = SPLIT.defaults() | {"val_fraction": 0.1, "test_fraction": 0.2, "stratify": True, "seed": 0}
    return dict(SPLIT.run(Ctx(), {"dataset": reviews["dataset"]}, params))


def ours(train: Any, steps: int) -> float:
    model, _ = pretrained()
    config = TrainConfig(epochs=1, max_iters=steps, batch_size=BATCH, optimizer="adamw", lr=LR, seed=SEED,
                         device="cpu", weight_decay=0.01)
    loop = TrainingLoop(model, train, None, config, [ProgressEvents(lambda *a, **k: None)], log=lambda m: None)
    start = time.perf_counter()
    loop.fit()
    return (time.perf_counter() - start) / steps


def by_hand(train: Any, steps: int) -> float:
    """What a person writes with transformers: shuffle, slice, model(**batch).loss, step."""
    hf = pretrained()[0].hf
    optimizer = torch.optim.AdamW(hf.parameters(), lr=LR, weight_decay=0.01)
    generator = torch.Generator().manual_seed(SEED)
    order = torch.randperm(len(train), generator=generator)
    hf.train()
    start = time.perf_counter()
    for step in range(steps):
        index = order[(step * BATCH) % len(train):][:BATCH]
        ids = train.x[index]
        loss = hf(input_ids=ids, attention_mask=(ids != 0).long(), labels=train.y[index]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def hf_trainer(train: Any, steps: int, folder: str) -> float:
    from transformers import Trainer, TrainingArguments

    rows = [{"input_ids": x, "attention_mask": (x != 0).long(), "labels": y} for x, y in zip(train.x, train.y)]
    args = TrainingArguments(output_dir=folder, per_device_train_batch_size=BATCH, max_steps=steps, learning_rate=LR,
                             weight_decay=0.01, lr_scheduler_type="constant", use_cpu=True, report_to=[],
                             save_strategy="no", logging_strategy="no", dataloader_num_workers=0, seed=SEED,
                             disable_tqdm=True, max_grad_norm=0.0)
    trainer = Trainer(model=pretrained()[0].hf, args=args, train_dataset=rows)
    start = time.perf_counter()
    trainer.train()
    return (time.perf_counter() - start) / steps


def step_times(train: Any, steps: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        runs = {"NodeFlow": lambda: ours(train, steps), "by hand": lambda: by_hand(train, steps),
                "HF Trainer": lambda: hf_trainer(train, steps, folder)}
        for run in runs.values():
            run()  # warm up kernels and the allocator
        times: dict[str, list[float]] = {name: [] for name in runs}
        for i in range(repeats):
            for name in list(runs)[i % 3:] + list(runs)[:i % 3]:  # rotate who goes first
                times[name].append(runs[name]())
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"1. step time, tiny BERT sequence classification, batch {BATCH}, {steps} steps x {repeats} "
          f"repeats, {torch.get_num_threads()} threads:")
    for name, seconds in median.items():
        print(f"   {name:<10} {seconds * 1000:7.2f} ms/step")
    print(f"   NodeFlow / by hand    = {median['NodeFlow'] / median['by hand']:.3f}")
    print(f"   NodeFlow / HF Trainer = {median['NodeFlow'] / median['HF Trainer']:.3f}")


def lora_share() -> None:
    model, _ = pretrained(**LORA)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    print(f"2. LoRA r={LORA['lora_r']} on {LORA['lora_targets']} (+ the classifier head): {trainable:,} of "
          f"{total:,} parameters train = {100 * trainable / total:.2f} %")
    buffer = io.BytesIO()
    torch.save({n: p.detach() for n, p in model.named_parameters() if p.requires_grad}, buffer)
    print(f"   torch.save of the trainable weights alone: {len(buffer.getvalue()) / 1024:.1f} KiB")


def child_run(folder: Path, lora: bool) -> tuple[float, int]:
    """(peak RSS in MiB, final_model.pt bytes) of `nodeflow run` on the example, one epoch."""
    sets = ["Trainer.epochs=1", f"Trainer.checkpoint_dir={folder}", "Trainer.async_save=false"]
    sets += [f"Pretrained.{k}={v}" for k, v in LORA.items()] if lora else []
    command = [sys.executable, str(ROOT / "main.py"), "run", str(EXAMPLE)]
    for setting in sets:
        command += ["--set", setting]
    child = subprocess.Popen(command, cwd=folder.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"nodeflow run failed: {child.stderr.read().decode() if child.stderr else ''}")
    return usage.ru_maxrss / 1024, (folder / "final_model.pt").stat().st_size


def runs_compared() -> None:
    with tempfile.TemporaryDirectory() as folder:
        full_rss, full_size = child_run(Path(folder) / "full", lora=False)
        lora_rss, lora_size = child_run(Path(folder) / "lora", lora=True)
    print(f"3. final_model.pt: LoRA {lora_size / 1024:.1f} KiB, full fine-tune {full_size / 1024:.1f} KiB "
          f"(LoRA / full = {lora_size / full_size:.3f})")
    print(f"4. peak RSS of `nodeflow run`, one epoch: LoRA {lora_rss:.0f} MiB, full {full_rss:.0f} MiB "
          f"(LoRA / full = {lora_rss / full_rss:.3f})")


def accuracy(model: Any, split: dict[str, Any], epochs: int) -> float:
    config = TrainConfig(epochs=epochs, batch_size=BATCH, optimizer="adamw", lr=LR, seed=SEED, device="cpu",
                         weight_decay=0.01, grad_clip=1.0)
    TrainingLoop(model, split["train"], None, config, log=lambda m: None).fit()
    test = split["test"]
    return float(evaluate(model, test, make_loss("auto", test), torch.device("cpu"))["accuracy"])


def from_scratch() -> Any:
    """The same architecture and head, every weight new (the seed the Pretrained node uses for its head)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from nodeflow.pretrained.wrapper import PretrainedModel

    torch.manual_seed(SEED)
    config = AutoConfig.from_pretrained(BERT, local_files_only=True, num_labels=2)
    return PretrainedModel(AutoModelForSequenceClassification.from_config(config), "sequence-classification", 0, 0)


def pretrained_wins(split: dict[str, Any]) -> None:
    print("5. test accuracy, same data, split and training settings:")
    for epochs in (1, 3):
        start, scratch = accuracy(pretrained()[0], split, epochs), accuracy(from_scratch(), split, epochs)
        print(f"   {epochs} epoch{'s' * (epochs > 1)}: pretrained start {100 * start:.1f} %, "
              f"from scratch {100 * scratch:.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = data(pretrained()[1])
    step_times(split["train"], args.steps, args.repeats)
    lora_share()
    runs_compared()
    pretrained_wins(split)


if __name__ == "__main__":
    main()
