"""A study's results: the trials table, the summary, sweep.csv, importance.csv and two plots
(history.png: the value of every trial and the best so far; parallel.png: each trial's params
as a line coloured by its value), written at a sweep's end into the sweep's own folder.

They are drawn from the study as nodeflow.sweep.recorded read and checked it, never from Optuna's
objects directly. Every file goes through the rule of all NodeFlow writers: a file NodeFlow did not
write is never replaced. Plots use matplotlib's Agg canvas (no pyplot, no global backend).
"""
from __future__ import annotations

import csv
import io
import warnings
from functools import partial
from pathlib import Path
from typing import Any

from nodeflow.core import Issue, UserError
from nodeflow.core.files import write_bytes
from nodeflow.core.outputs import output_problem, write_output, write_output_text
from nodeflow.sweep.recorded import Recorded, check_params, read_study

WRITER = "nodeflow sweep"
FILES = ("sweep.csv", "importance.csv", "history.png", "parallel.png")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _names(recorded: Recorded) -> list[str]:
    return sorted({k for r in recorded.rows for k in r["params"]})


def table(recorded: Recorded) -> str:
    names = _names(recorded)
    head = ["trial", "state", recorded.metric, *names, "time", "note"]
    body = [[str(r["trial"]), r["state"], _cell(r["value"]), *[_cell(r["params"].get(n)) for n in names],
             "-" if r["seconds"] is None else f"{r['seconds']:.1f} s", r["note"]] for r in recorded.rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body])


def summary(recorded: Recorded) -> str:
    tally = recorded.counts()
    line = f"{len(recorded.rows)} trials: " + ", ".join(f"{v} {k}" for k, v in sorted(tally.items()))
    top = recorded.best()
    if top is None:
        return line + "; none complete"
    params = ", ".join(f"{k}={v}" for k, v in top["params"].items())
    return f"{line}\nBest: trial {top['trial']}, {recorded.metric} {top['value']:.4g}: {params}"


def importances(study: Any, recorded: Recorded) -> dict[str, float]:
    """Optuna's parameter importance (its default evaluator); {} with fewer than two complete trials
    or when the evaluator cannot rank the trials (importance is extra, never a reason to fail)."""
    import optuna

    if recorded.counts().get("complete", 0) < 2:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ranked = dict(optuna.importance.get_param_importances(study))
        except Exception:  # values from an untrusted database; the table and plots still stand
            return {}
    return {k: float(v) for k, v in ranked.items() if k in recorded.params}


def result_paths(folder: Path) -> list[Path]:
    """The four result files in `folder`; a foreign file in the way: UserError, before anything is written."""
    paths = [folder / name for name in FILES]
    for path in paths:
        problem = output_problem(path, hint="move it away")
        if problem:
            raise UserError(Issue(problem, field="--dir"))
        if path.is_dir() or path.is_symlink():
            raise UserError(Issue("a folder or link holds a result file's name; move it away", file=str(path),
                                  field="--dir"))
    return paths


def write_results(recorded: Recorded, ranked: dict[str, float], folder: Path) -> list[Path]:
    """sweep.csv, importance.csv (`ranked`), history.png, parallel.png in `folder` (the sweep's own)."""
    paths = result_paths(folder)
    from nodeflow.sweep.plots import history_png, parallel_png

    rows = list(recorded.rows)
    data = {
        "sweep.csv": _csv(recorded).encode("utf-8"),
        "importance.csv": ("param,importance\n" + "".join(f"{k},{v:.4f}\n" for k, v in ranked.items())).encode(),
        "history.png": history_png(rows, recorded.metric, recorded.direction),
        "parallel.png": parallel_png(rows, recorded.metric, recorded.direction),
    }
    try:
        for path in paths:
            write_output(path, partial(write_bytes, data[path.name]), WRITER)
    except OSError as exc:
        raise UserError(Issue(f"cannot write the results: {exc.strerror or exc}", file=str(folder),
                              field="--dir")) from None
    return paths


def _csv(recorded: Recorded) -> str:
    names = _names(recorded)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", "state", recorded.metric, *names, "seconds", "run_id", "checkpoint_dir",
                     "last_checkpoint", "note"])
    for r in recorded.rows:
        writer.writerow([r["trial"], r["state"], "" if r["value"] is None else r["value"],
                         *[r["params"].get(n, "") for n in names], "" if r["seconds"] is None else r["seconds"],
                         r["run_id"], r["checkpoint_dir"], r["last_checkpoint"], r["note"]])
    return out.getvalue()


def finish(sweep: Any, study: Any) -> bool:
    """After a sweep: the summary and the result files in its folder. False when no trial completed."""
    recorded = read_study(study, sweep.url)
    top = recorded.best()
    best_params = None if top is None else check_params(recorded, top, sweep.dims)
    paths = write_results(recorded, importances(study, recorded), sweep.folder)
    sweep.emit("sweep_end", summary(recorded) + f"\nResults: {', '.join(str(p) for p in paths)}",
               counts=recorded.counts(), best_trial=None if top is None else top["trial"],
               best_value=None if top is None else top["value"], best_params=best_params,
               files=[str(p) for p in paths], metric=recorded.metric, trials=list(recorded.rows))
    return top is not None


def write_text(path: Path, text: str, field: str) -> None:
    """`text` into `path` as NodeFlow's output; an OS failure (no such folder, read-only): UserError."""
    try:
        write_output_text(path, text, WRITER)
    except OSError as exc:
        raise UserError(Issue(f"cannot write it: {exc.strerror or exc}", file=str(path), field=field)) from None
