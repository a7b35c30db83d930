"""A study's two plots as PNG bytes (matplotlib's Agg canvas; no pyplot, no global backend).

history: every trial's value by trial number (complete filled, pruned hollow at its last
reported value) and the best so far; parallel coordinates: one vertical axis per param, each
complete or pruned trial a line across them, coloured by its value (a log axis for a param whose
values span more than a factor of 20).
"""
from __future__ import annotations

import io
import math
from typing import Any

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _ok(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def history_png(rows: list[dict[str, Any]], metric: str, direction: str) -> bytes:
    return _png(history_figure(rows, metric, direction))


def history_figure(rows: list[dict[str, Any]], metric: str, direction: str) -> Figure:
    """Each trial's value and the best so far, by trial number."""
    figure = Figure(figsize=(7, 4), dpi=100)
    ax = figure.subplots()
    done = [r for r in rows if r["state"] == "complete" and _ok(r["value"])]
    pruned = [r for r in rows if r["state"] == "pruned" and _ok(r["value"])]
    ax.scatter([r["trial"] for r in done], [r["value"] for r in done], label="complete", zorder=3)
    ax.scatter([r["trial"] for r in pruned], [r["value"] for r in pruned], facecolors="none", edgecolors="grey",
               label="pruned (last epoch reported)", zorder=3)
    pick = min if direction == "minimize" else max
    xs, ys, best = [], [], None
    for r in sorted(done, key=lambda r: r["trial"]):
        best = r["value"] if best is None else pick(best, r["value"])
        xs.append(r["trial"])
        ys.append(best)
    if xs:
        last = max(r["trial"] for r in rows)  # the line runs on to the last trial, pruned or not
        # a study whose only complete trial is its last: a short mark there, not a line of no length
        line = (xs + [last], ys + [ys[-1]]) if last > xs[0] else ([xs[0] - 0.4, xs[0] + 0.4], ys * 2)
        ax.step(*line, where="post", color="tab:red", label="best so far")
    ax.set(xlabel="Trial", ylabel=metric, title="Optimisation history")
    trials = [r["trial"] for r in done + pruned]
    if trials:  # at least one whole trial either side in view, or the locator falls back to fractions
        low, high = min(trials), max(trials)
        pad = max(0.5, 0.05 * (high - low))
        ax.set_xlim(low - pad, high + pad)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # trials are whole numbers
    ax.grid(True, alpha=0.3)
    if done or pruned:
        ax.legend()
    return figure


def parallel_png(rows: list[dict[str, Any]], metric: str, direction: str) -> bytes:
    shown = [r for r in rows if r["state"] in ("complete", "pruned") and _ok(r["value"])]
    names = sorted({k for r in shown for k in r["params"]})
    figure = Figure(figsize=(max(5, 2 * len(names) + 2), 4), dpi=100)
    ax = figure.subplots()
    ax.set(title=f"Parallel coordinates ({metric})")
    if not shown or not names:
        ax.text(0.5, 0.5, "no finished trials yet", ha="center", va="center", transform=ax.transAxes)
        return _png(figure)
    axes = [_axis([r["params"].get(n) for r in shown]) for n in names]
    values = [r["value"] for r in shown]
    low, high = min(values), max(values)
    norm = Normalize(low, high if high > low else low + 1)
    colour = colormaps["viridis_r" if direction == "minimize" else "viridis"]  # the best trials brightest
    for r in shown:
        ys = [place(r["params"].get(n)) for n, place in zip(names, axes)]
        ax.plot(range(len(names)), ys, color=colour(norm(r["value"])), alpha=0.8,
                linestyle="-" if r["state"] == "complete" else ":")
    ax.set_xticks(range(len(names)), [f"{n}\n{_range_text(p)}" for n, p in zip(names, axes)])
    ax.set_yticks([0, 1], ["low", "high"])
    ax.set_xlim(-0.2, len(names) - 0.8 if len(names) > 1 else 0.2)
    figure.colorbar(ScalarMappable(norm=norm, cmap=colour), ax=ax, label=metric)
    return _png(figure)


class _axis:
    """Where a param's value sits on its axis, 0..1 (categories: in the order first seen)."""

    def __init__(self, values: list[Any]):
        numbers = [v for v in values if _ok(v) and not isinstance(v, bool)]
        self.numeric = len(numbers) == len(values)
        if self.numeric:
            self.low, self.high = min(numbers), max(numbers)
            self.log = self.low > 0 and self.high / self.low > 20
        else:
            self.categories = list(dict.fromkeys(str(v) for v in values))

    def __call__(self, value: Any) -> float:
        if not self.numeric:
            return self.categories.index(str(value)) / max(1, len(self.categories) - 1)
        low, high, v = self.low, self.high, value
        if self.log:
            low, high, v = math.log(low), math.log(high), math.log(v)
        return 0.5 if high == low else (v - low) / (high - low)


def _range_text(axis: _axis) -> str:
    if not axis.numeric:
        return " | ".join(axis.categories)
    return f"{axis.low:.3g} .. {axis.high:.3g}" + (" (log)" if axis.log else "")
