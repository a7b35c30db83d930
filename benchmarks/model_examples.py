"""The model-family examples at full size: run each workflow headless, print its headline numbers.

Each workflow runs as `main.py run WORKFLOW --events jsonl` in a scratch folder (its
checkpoints go there); the Evaluate node's metrics and the run time are read from the
event stream. Beside sentiment_bert it trains the bag-of-words baseline: the same reviews
and split, token counts into an MLP, which cannot see word order.

    python benchmarks/model_examples.py [NAME ...] [--set NODE.PARAM=VALUE ...]
    # default: all seven (about 25 minutes on 2 cores); --set as for `main.py run`, e.g. other seeds
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from nodeflow.core import default_registry, load_workflow  # noqa: E402
from nodeflow.training.loop import TrainConfig, TrainingLoop  # noqa: E402
from nodeflow.training.data import make_bundle  # noqa: E402
from nodeflow.training.metrics import evaluate  # noqa: E402
from nodeflow.training.factory import make_loss  # noqa: E402
from nodes.models import MLP  # noqa: E402

HEADLINES = {  # what each issue-9 target is about
    "shakespeare_gpt": ("loss",), "stories_modern": ("loss", "perplexity"),
    "sentiment_bert": ("accuracy",), "shapes_vit": ("accuracy", "top5_accuracy"),
    "shapes_clip": ("i2t_r1", "i2t_r10", "t2i_r1", "t2i_r10"),
    "phantom_unet": ("foreground_dice", "mean_dice"), "resnet20": ("accuracy", "top5_accuracy"),
}


def run_example(name: str, settings: list[str]) -> dict:
    path = ROOT / "workflows" / f"{name}.json"
    extra = [arg for setting in settings for arg in ("--set", setting)]
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", str(path), "--events", "jsonl", *extra],
                              cwd=scratch, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{name} failed: {done.stderr.strip().splitlines()[-1:]}")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    metrics = next(e["metrics"] for e in reversed(events) if e["event"] == "metrics")
    return {"seconds": round(seconds, 1), **{k: metrics.get(k) for k in HEADLINES[name]}}


def bag_of_words_baseline() -> float:
    """Test accuracy of token counts → MLP on sentiment_bert's own reviews and split."""
    workflow = load_workflow(ROOT / "workflows" / "sentiment_bert.json")
    registry = default_registry()
    nodes = {n.type: n for n in workflow.nodes.values()}

    class Ctx:
        base_dir, node_name, dry_run = ROOT / "workflows", "baseline", False

        def log(self, message: str) -> None: ...

    def run(type_: str, inputs: dict) -> dict:
        spec = registry.get(type_)
        return spec.run(Ctx(), inputs, spec.defaults() | nodes[type_].params)

    parts = run("data.split", {"dataset": run("data.reviews", {})["dataset"]})
    vocab = parts["train"].info["vocab_size"]

    def counts(data):
        bags = torch.zeros(len(data), vocab).scatter_add_(1, data.x, torch.ones_like(data.x, dtype=torch.float32))
        bags[:, 0] = 0  # padding
        return make_bundle(bags, data.y, "classification", data.class_names, data.name)

    train, val, test = (counts(parts[k]) for k in ("train", "val", "test"))
    model = MLP.rebuild({"params": MLP.defaults() | {"hidden": [64]}, "input_shape": [vocab], "output_size": 2})
    TrainingLoop(model, train, val, TrainConfig(epochs=30, batch_size=32, monitor="val_accuracy")).fit()
    return evaluate(model, test, make_loss("auto", test), torch.device("cpu"))["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(HEADLINES)} (default: all)")
    parser.add_argument("--set", action="append", default=[], dest="settings", metavar="NODE.PARAM=VALUE")
    args = parser.parse_args()
    if set(args.names) - set(HEADLINES):
        parser.error(f"unknown example(s): {', '.join(sorted(set(args.names) - set(HEADLINES)))}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu", *args.settings)
    for name in args.names or list(HEADLINES):
        print(f"{name:16} {run_example(name, args.settings)}", flush=True)
        if name == "sentiment_bert":
            print(f"{'  bag of words':16} {{'accuracy': {bag_of_words_baseline():.4f}}}  (token counts → MLP 64)")


if __name__ == "__main__":
    main()
