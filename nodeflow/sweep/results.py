"""A study's results: the trials table, the best trial, sweep.csv, importance.csv and two plots
(history.png: the value of every trial and the best so far; parallel.png: each trial's params
as a line coloured by its value), and the best params written into a new workflow file.

Every file goes through the rule of all NodeFlow writers: a file NodeFlow did not write is never
replaced. Plots use matplotlib's Agg canvas (no pyplot, no global backend).
"""
from __future__ import annotations

import argparse
import csv
import io
import warnings
from pathlib import Path
from typing import Any

from nodeflow.core import Issue, UserError, apply_overrides, default_registry, load_workflow
from nodeflow.core.outputs import output_problem, write_output, write_output_text
from nodeflow.core.workflow import dumps
from nodeflow.sweep.space import overrides

WRITER = "nodeflow sweep"


def rows(study: Any) -> list[dict[str, Any]]:
    from nodeflow.sweep.study import attrs, state_name

    out = []
    for t in study.get_trials(deepcopy=False):
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        notes = attrs(t)
        note = notes.get("error", "")
        if notes.get("pruned_after_epoch"):
            note = f"pruned after epoch {notes['pruned_after_epoch']}"
        if notes.get("retry_of") is not None:
            note = (note + "; " if note else "") + f"retry of trial {notes['retry_of']}"
        value = t.value if t.value is not None else _last(t.intermediate_values)
        out.append({"trial": t.number, "state": state_name(t.state), "value": value, "params": dict(t.params),
                    "seconds": seconds, "run_id": notes.get("run_id", ""),
                    "checkpoint_dir": notes.get("checkpoint_dir", ""),
                    "last_checkpoint": notes.get("last_checkpoint", ""), "note": note})
    return out


def _last(values: dict[int, float]) -> float | None:
    return values[max(values)] if values else None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(study: Any, metric: str) -> str:
    names = sorted({k for r in rows(study) for k in r["params"]})
    head = ["trial", "state", metric, *names, "time", "note"]
    body = [[str(r["trial"]), r["state"], _cell(r["value"]), *[_cell(r["params"].get(n)) for n in names],
             "-" if r["seconds"] is None else f"{r['seconds']:.1f} s", r["note"]] for r in rows(study)]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body])


def best(study: Any) -> Any:
    from optuna.trial import TrialState

    return study.best_trial if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) else None


def counts(study: Any) -> dict[str, int]:
    from nodeflow.sweep.study import state_name

    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[state_name(t.state)] = out.get(state_name(t.state), 0) + 1
    return out


def importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importance (its default evaluator); {} with fewer than two complete trials."""
    import optuna

    if len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) < 2:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return dict(optuna.importance.get_param_importances(study))
        except (ValueError, RuntimeError):
            return {}


def write_results(study: Any, folder: Path, metric: str) -> list[Path]:
    """sweep.csv, importance.csv, history.png, parallel.png in `folder`; a foreign file in the way: UserError."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in ("sweep.csv", "importance.csv", "history.png", "parallel.png")}
    for path in paths.values():
        problem = output_problem(path, hint="move it away")
        if problem:
            raise UserError(Issue(problem, field="--dir"))
    write_output_text(paths["sweep.csv"], _csv(study, metric), WRITER)
    ranked = importances(study)
    text = "param,importance\n" + "".join(f"{k},{v:.4f}\n" for k, v in ranked.items())
    write_output_text(paths["importance.csv"], text, WRITER)
    from nodeflow.sweep.plots import history_png, parallel_png

    for name, draw in (("history.png", history_png), ("parallel.png", parallel_png)):
        data = draw(rows(study), metric, study.direction.name.lower())
        write_output(paths[name], lambda handle, data=data: handle.write(data), WRITER)
    return list(paths.values())


def _csv(study: Any, metric: str) -> str:
    found = rows(study)
    names = sorted({k for r in found for k in r["params"]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", "state", metric, *names, "seconds", "run_id", "checkpoint_dir", "last_checkpoint",
                     "note"])
    for r in found:
        writer.writerow([r["trial"], r["state"], "" if r["value"] is None else r["value"],
                         *[r["params"].get(n, "") for n in names], "" if r["seconds"] is None else r["seconds"],
                         r["run_id"], r["checkpoint_dir"], r["last_checkpoint"], r["note"]])
    return out.getvalue()


def summary(study: Any, metric: str) -> str:
    tally = counts(study)
    line = f"{len(study.trials)} trials: " + ", ".join(f"{v} {k}" for k, v in sorted(tally.items()))
    top = best(study)
    if top is None:
        return line + "; none complete"
    params = ", ".join(f"{k}={v}" for k, v in top.params.items())
    return f"{line}\nBest: trial {top.number}, {metric} {top.value:.4g}: {params}"


def finish(sweep: Any, study: Any) -> bool:
    """After a sweep: the summary and the result files. False when no trial completed."""
    metric = sweep.args.metric
    paths = write_results(study, sweep.folder, metric)
    top = best(study)
    sweep.emit("sweep_end", summary(study, metric) + f"\nResults: {', '.join(str(p) for p in paths)}",
               counts=counts(study), best_trial=None if top is None else top.number,
               best_value=None if top is None else top.value, best_params=None if top is None else top.params,
               files=[str(p) for p in paths], metric=metric, trials=rows(study))
    return top is not None


def cmd_show(args: argparse.Namespace, name: str) -> int:
    import optuna

    from nodeflow.sweep.study import storage

    folder = Path(args.dir or Path("sweeps") / name)
    url = args.storage or f"sqlite:///{folder / 'study.db'}"
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        raise UserError(Issue(f"no study database at {url[len('sqlite:///'):]}; give --storage URL", field="--storage"))
    opened = storage(url)
    try:
        study = optuna.load_study(study_name=name, storage=opened)
    except KeyError:
        known = ", ".join(s.study_name for s in optuna.get_all_study_summaries(opened)) or "none"
        raise UserError(Issue(f"no study {name!r} in {url} (studies: {known})", field="STUDY")) from None
    metric = study.user_attrs.get("metric", "value")
    if args.apply_best:  # refused before anything is printed or written
        _writable(Path(args.apply_best))
    print(table(study, metric))
    print(summary(study, metric))
    ranked = importances(study)
    if ranked:
        print("Importance: " + ", ".join(f"{k} {v:.2f}" for k, v in ranked.items()))
    out = Path(args.dir) if args.dir else Path(study.user_attrs.get("dir") or folder)
    paths = write_results(study, out, metric)
    print(f"Results: {', '.join(str(p) for p in paths)}")
    if args.apply_best:
        path = apply_best(study, Path(args.apply_best))
        print(f"Best params written to {path}")
    return 0


def apply_best(study: Any, out: Path) -> Path:
    """The study's workflow with its best trial's params (set as `--set` sets them), as a new file."""
    top = best(study)
    if top is None:
        raise UserError(Issue("no complete trial yet", field="--apply-best"))
    _writable(out)
    registry = default_registry()
    workflow = load_workflow(study.user_attrs["workflow"])
    apply_overrides(workflow, registry, overrides(top.params))
    write_output_text(out, dumps(workflow), WRITER)
    return out


def _writable(out: Path) -> None:
    problem = output_problem(out, hint="it is left as it is")
    if problem:
        raise UserError(Issue(problem, field="--apply-best"))
