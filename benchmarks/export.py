"""Exported models against torch on CPU: per family, the max abs difference and the latency of one batch.

Each family is built with its node's default params at the size of its example workflow,
saved as a checkpoint (CheckpointManager API) and exported with `ckpt export`'s code to ONNX
and TorchScript (the export itself checks batches of 1 and 5). Then, on one batch of
--batch samples, the torch model (eval, no_grad), the ONNX file in onnxruntime (CPU, as
many threads as torch) and the TorchScript file are timed alternately, median of --repeats
after a warm-up; each is printed as a ratio against torch measured in the same run.
CLIP is timed as its two exported graphs, the image and the text encoder. The differences
printed are those on the timed batch.

    python benchmarks/export.py [--batch 32] [--repeats 20] [--threads 1] [--families cnn gpt]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodeflow.checkpoints import CheckpointConfig, CheckpointManager
from nodeflow.core.registry import default_registry
from nodeflow.checkpoints.export import export_model, runner_for
from nodeflow.checkpoints.export_inputs import outputs_of

FAMILIES: dict[str, tuple[str, dict[str, Any], dict[str, Any], str]] = {  # type, params, shape, task
    "mlp": ("model.mlp", {}, {"input_shape": [13], "output_size": 3}, "classification"),
    "cnn": ("model.cnn", {}, {"input_shape": [1, 8, 8], "output_size": 10}, "classification"),
    "resnet": ("model.resnet", {}, {"input_shape": [3, 32, 32], "output_size": 12}, "classification"),
    "vit": ("model.vit", {}, {"input_shape": [3, 32, 32], "output_size": 12}, "classification"),
    "bert": ("model.bert", {}, {"input_shape": [64], "output_size": 2, "vocab_size": 1000},
             "sequence_classification"),
    "gpt": ("model.gpt", {}, {"input_shape": [64], "output_size": 65, "vocab_size": 65}, "language_modelling"),
    "modern": ("model.modern_transformer", {}, {"input_shape": [64], "output_size": 512, "vocab_size": 512},
               "language_modelling"),
    "unet": ("model.unet", {}, {"input_shape": [1, 64, 64], "output_size": 2}, "segmentation"),
    "clip": ("model.clip", {}, {"input_shape": [3, 32, 32], "output_size": 1, "vocab_size": 100,
                                "text_length": 16}, "contrastive"),
}


def saved(name: str, folder: Path) -> Path:
    model_type, params, shape, task = FAMILIES[name]
    model = default_registry().get(model_type).rebuild({"type": model_type, "params": params, **shape})
    data = {"task": task, **shape} | ({"caption_length": shape["text_length"]} if "text_length" in shape else {})
    manager = CheckpointManager(CheckpointConfig(checkpoint_dir=folder, backup_checkpoints=False), name)
    found = manager.save_checkpoint(model, epoch=1, metrics={"val_loss": 1.0},
                                    config={"model": model.nodeflow_config, "data": data})
    assert found is not None
    return manager.path_of(found)


def median_ms(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median milliseconds of each, timed in turn (one warm-up each first)."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    for run in runs.values():
        run()
    for _ in range(repeats):
        for key, run in runs.items():
            start = time.perf_counter()
            run()
            times[key].append((time.perf_counter() - start) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def forward(module: torch.nn.Module, inputs: Any) -> None:
    with torch.no_grad():
        module(inputs)


def measure(name: str, folder: Path, batch: int, repeats: int) -> list[str]:
    path = saved(name, folder)
    onnx = export_model(path, folder / f"{name}.onnx", "onnx")
    script = export_model(path, folder / f"{name}.pt", "torchscript")
    lines = []
    for exported, scripted in zip(onnx, script):
        graph = exported.graph
        count = sum(p.numel() for p in graph.module.parameters())
        inputs = graph.batch(batch, seed=1)
        ort_run = runner_for("onnx", exported.path.read_bytes())
        jit_run = runner_for("torchscript", scripted.path.read_bytes())
        with torch.no_grad():
            expected = outputs_of(graph.module(inputs))
        diff = max(float((g - e).abs().max()) for g, e in zip(ort_run(inputs), expected))
        jit_diff = max(float((g - e).abs().max()) for g, e in zip(jit_run(inputs), expected))
        ms = median_ms({"torch": partial(forward, graph.module, inputs), "onnxruntime": partial(ort_run, inputs),
                        "torchscript": partial(jit_run, inputs)}, repeats)
        label = f"{name}.{graph.part}" if graph.part else name
        lines.append(f"{label:<11} {count:>10,} {diff:>9.1e} {jit_diff:>9.1e} {ms['torch']:>9.2f} "
                     f"{ms['onnxruntime']:>9.2f} {ms['onnxruntime'] / ms['torch']:>6.2f}x {ms['torchscript']:>9.2f} "
                     f"{ms['torchscript'] / ms['torch']:>6.2f}x")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch and onnxruntime "
                        "(0: torch's default)")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # onnxruntime is given as many (deploy.onnx_runner)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), batch {args.batch}, "
          f"median of {args.repeats}")
    print(f"{'family':<11} {'params':>10} {'onnx diff':>9} {'jit diff':>9} {'torch ms':>9} {'ort ms':>9} "
          f"{'ort/torch':>7} {'jit ms':>9} {'jit/torch':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.families:
            for line in measure(name, Path(tmp), args.batch, args.repeats):
                print(line, flush=True)


if __name__ == "__main__":
    main()
