"""Every task trains through the same loop and reports its own metrics (real torch, tiny models)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nodeflow.core.errors import DataError
from nodeflow.training.factory import make_loss
from nodeflow.training.loop import TrainConfig, TrainingLoop
from nodeflow.training.metrics import evaluate
from nodeflow.training.tasks import Scores, clip_logits
from nodes.datasets import SYNTHETIC
from nodes.generators import PHANTOMS, REVIEWS, SHAPE_CAPTIONS, STORIES
from nodes.split import SPLIT
from tests.nodes.test_datasets import run

CPU = torch.device("cpu")


class TinyLM(nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.embed, self.out = nn.Embedding(vocab, 32), nn.Linear(32, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(ids))


class TinyClip(nn.Module):
    def __init__(self, vocab: int, pixels: int):
        super().__init__()
        self.image = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 32))
        self.text = nn.EmbeddingBag(vocab, 32)

    def forward(self, image: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(image), self.text(ids)


def fit(model: nn.Module, train, val, **config) -> dict[str, list[float]]:
    settings = {"epochs": 4, "batch_size": 32, "device": "cpu", "lr": 0.01} | config
    return TrainingLoop(model, train, val, TrainConfig(**settings)).fit().history


def test_language_model_learns_next_tokens_and_reports_perplexity() -> None:
    parts = run(STORIES, Path("."), samples=200, block_size=32)
    train, val = parts["train"], parts["val"]
    assert torch.equal(train.x[0, 1:], train.y[0, :-1])  # targets are the inputs shifted by one token
    history = fit(TinyLM(train.output_size), train, val)
    # a bigram model: far below the perplexity of guessing uniformly (the vocabulary size), and improving
    assert history["val_perplexity"][-1] < train.output_size / 5
    assert history["val_perplexity"][-1] < history["val_perplexity"][0]
    assert history["val_token_accuracy"][-1] > 0.3
    assert history["val_perplexity"][-1] == pytest.approx(torch.tensor(history["val_loss"][-1]).exp().item())


def test_segmentation_reports_dice_and_iou_per_class() -> None:
    data = run(PHANTOMS, Path("."), samples=24, image_size=32, classes=3)["dataset"]
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 3, 3, padding=1))
    history = fit(model, data, data, epochs=8, batch_size=8, loss="dice_ce")
    assert history["val_mean_dice"][-1] > history["val_mean_dice"][0]
    metrics = evaluate(model, data, make_loss("auto", data), CPU)
    assert set(metrics["dice"]) == {"background", "body", "organ_1"}
    assert metrics["dice"]["background"] > 0.8 and 0 <= metrics["mean_iou"] <= metrics["mean_dice"] <= 1


def test_segmentation_metrics_on_known_masks() -> None:
    y = torch.tensor([[[0, 0], [1, 1]]])
    out = torch.nn.functional.one_hot(torch.tensor([[[0, 1], [1, 1]]]), 2).permute(0, 3, 1, 2).float() * 10
    scores = Scores("segmentation", make_loss("auto", run(PHANTOMS, Path("."), samples=4, classes=2)["dataset"]),
                    ("bg", "fg"))
    scores.update(out, y)
    result = scores.result()
    assert result["dice"] == {"bg": pytest.approx(2 / 3), "fg": pytest.approx(0.8)}  # 2*1/(1+2), 2*2/(3+2)
    assert result["iou"] == {"bg": pytest.approx(0.5), "fg": pytest.approx(2 / 3)}
    assert result["pixel_accuracy"] == 0.75


def test_contrastive_pairs_train_and_report_retrieval() -> None:
    """Trained on 300 image-caption pairs, scored on 100 it never saw: most images find their caption."""
    data = run(SHAPE_CAPTIONS, Path("."), samples=400, image_size=16)["dataset"]
    parts = run(SPLIT, Path("."), {"dataset": data}, val_fraction=0.25, test_fraction=0.0)
    train, held_out = parts["train"], parts["val"]
    assert (len(train), len(held_out)) == (300, 100)
    torch.manual_seed(0)
    model = TinyClip(data.info["vocab_size"], 3 * 16 * 16)
    untrained = evaluate(model, held_out, make_loss("auto", held_out), CPU)
    history = fit(model, train, held_out, epochs=8, batch_size=16)
    metrics = evaluate(model, held_out, make_loss("auto", held_out), CPU)
    assert untrained["i2t_accuracy"] < 0.1  # chance: about one caption in the 100
    assert metrics["i2t_accuracy"] > 0.5 and metrics["t2i_accuracy"] > 0.5  # measured: 0.84 and 0.97
    assert history["val_i2t_accuracy"][-1] == pytest.approx(metrics["i2t_accuracy"])
    assert metrics["i2t_r1"] <= metrics["i2t_r5"] <= metrics["i2t_r10"] <= 1
    assert metrics["i2t_accuracy"] == metrics["i2t_r1"]


def test_retrieval_recall_on_known_embeddings() -> None:
    image = torch.eye(3)
    text = torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, 1, 0]])  # captions 1 and 2 swapped
    logits = clip_logits((image, text))
    assert logits.argmax(dim=1).tolist() == [0, 2, 1]
    scores = Scores("contrastive", lambda out, y: torch.tensor(0.0), ())
    scores.update((image, text), torch.zeros(3))
    result = scores.result()
    assert result["i2t_r1"] == pytest.approx(1 / 3) and result["i2t_r5"] == 1.0


def test_multilabel_and_regression_metrics() -> None:
    data = run(SYNTHETIC, Path("."), task="multilabel", samples=300, classes=4)["dataset"]
    assert data.y.shape == (300, 4) and data.output_size == 4
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    history = fit(model, data, data, epochs=10)
    assert history["val_f1"][-1] > 0.6 and "train_accuracy" not in history
    data = run(SYNTHETIC, Path("."), task="regression", samples=300)["dataset"]
    metrics = evaluate(nn.Linear(8, 1), data, make_loss("auto", data), CPU)
    assert {"mae", "rmse", "r2"} <= set(metrics) and metrics["rmse"] >= metrics["mae"]


def test_word_order_matters_for_reviews() -> None:
    """Swapping the clauses of a review keeps its bag of words and flips its label."""
    data = run(REVIEWS, Path("."), samples=400)["dataset"]
    from nodeflow.training.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(data.info["tokenizer"])
    texts = [tokenizer.decode(row) for row in data.x]
    swapped = {" but ".join(reversed(t.split(" but "))) for t in texts}
    flips = [t for t in texts if t in swapped and t.split(" but ")[0] != t.split(" but ")[1]]
    assert flips  # some reviews exist in both orders...
    labels = dict(zip(texts, data.y.tolist()))
    assert all(labels[t] != labels[" but ".join(reversed(t.split(" but ")))] for t in flips)  # ...with both labels


def test_a_loss_that_does_not_fit_the_task_names_the_ones_that_do() -> None:
    data = run(PHANTOMS, Path("."), samples=4)["dataset"]
    with pytest.raises(DataError, match="loss 'mse' does not fit segmentation data 'phantoms' "
                                        r"\(use cross_entropy, dice or dice_ce\)"):
        make_loss("mse", data)
