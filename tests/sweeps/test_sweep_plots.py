"""The optimisation history plot counts trials in whole numbers."""
from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg

from nodeflow.sweep.plots import history_figure


def test_history_ticks_are_whole_trial_numbers() -> None:
    rows = [{"trial": n, "state": "complete", "value": v} for n, v in enumerate((0.9, 0.5, 0.7))]
    figure = history_figure(rows, "val_loss", "minimize")
    FigureCanvasAgg(figure).draw()
    ticks = [t for t in figure.axes[0].get_xticks() if -0.5 <= t <= 2.5]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
