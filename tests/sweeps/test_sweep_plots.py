"""The optimisation history plot counts trials in whole numbers."""
from __future__ import annotations

import re
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nodeflow.sweep.plots import history_figure


def shown_x_labels(figure: Figure) -> list[str]:
    """The trial-axis tick labels drawn inside the plot's x range."""
    FigureCanvasAgg(figure).draw()
    axes = figure.axes[0]
    low, high = axes.get_xlim()
    return [t.get_text().replace("\N{MINUS SIGN}", "-") for t in axes.get_xticklabels()
            if low <= t.get_position()[0] <= high]


def assert_whole(labels: list[str]) -> None:
    assert labels and all(re.fullmatch(r"-?\d+", text) for text in labels), labels


@pytest.mark.parametrize("values", [(0.9, 0.5, 0.7), (0.4,), (0.4, 0.3)])
def test_history_ticks_are_whole_trial_numbers(values: tuple[float, ...]) -> None:
    rows: list[dict[str, Any]] = [{"trial": n, "state": "complete", "value": v} for n, v in enumerate(values)]
    labels = shown_x_labels(history_figure(rows, "val_loss", "minimize"))
    assert_whole(labels)
    assert "0" in labels  # the first trial's own number is on the axis


def test_a_lone_pruned_trial_is_at_a_whole_trial_number() -> None:
    rows: list[dict[str, Any]] = [{"trial": 3, "state": "pruned", "value": 0.7}]
    labels = shown_x_labels(history_figure(rows, "val_loss", "minimize"))
    assert_whole(labels)
    assert "3" in labels


@pytest.mark.parametrize("states", [("complete",), ("pruned", "complete")])
def test_the_best_so_far_line_is_seen_when_one_trial_completed_last(states: tuple[str, ...]) -> None:
    rows: list[dict[str, Any]] = [{"trial": n, "state": s, "value": 0.5 + n} for n, s in enumerate(states)]
    figure = history_figure(rows, "val_loss", "minimize")
    FigureCanvasAgg(figure).draw()
    axes = figure.axes[0]
    best = [line for line in axes.lines if line.get_label() == "best so far"]
    assert len(best) == 1 and "best so far" in [t.get_text() for t in axes.get_legend().get_texts()]
    xs = best[0].get_xdata()
    low, high = axes.get_xlim()
    assert max(xs) - min(xs) >= 0.5 and low <= min(xs) and max(xs) <= high  # a visible length, inside the view
