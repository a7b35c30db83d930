"""`nodeflow sweep show STUDY`: a study's table, summary and result files, and with `--apply-best
OUT.json` its workflow with the best trial's params as a new file.

The study is untrusted input: its SQLite file is checked before Optuna opens it (read-only, no
tables created), everything read from it passes nodeflow.sweep.recorded, and the best trial's
params must be the ones the study declared, inside their recorded ranges, set through the same
check as `--set`. Results go into the sweep's own folder (`--dir`, default sweeps/STUDY), never
where something recorded in the study points. Everything is checked before anything is written.
Imported only when `sweep show` runs (it imports Optuna).
"""
from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path
from typing import Any

from nodeflow.core import Issue, UserError, apply_overrides, default_registry, load_workflow
from nodeflow.core.outputs import output_problem
from nodeflow.core.workflow import dumps
from nodeflow.sweep.recorded import Recorded, check_params, read_study
from nodeflow.sweep.results import importances, result_paths, summary, table, write_results, write_text
from nodeflow.sweep.space import overrides, parse_params
from nodeflow.sweep.study import close, storage
from nodeflow.sweep.study_db import check_sqlite, plain_name

WORKFLOW_LIMIT = 64 * 1024 * 1024  # bytes of the workflow file a study names


def cmd_show(args: argparse.Namespace, name: str) -> int:
    plain_name(name, "STUDY")
    folder = Path(args.dir or Path("sweeps") / name)
    url = args.storage or f"sqlite:///{folder / 'study.db'}"
    study, label = open_study(url, name)
    try:
        return _show(args, study, label, folder)
    finally:
        close(study)


def _show(args: argparse.Namespace, study: Any, label: str, folder: Path) -> int:
    recorded = read_study(study, label)
    out = Path(args.apply_best) if args.apply_best else None
    text = best_workflow(recorded, out) if out else ""  # refused before anything is printed or written
    result_paths(folder)  # a foreign file in the way: refused before anything is written
    print(table(recorded))
    print(summary(recorded))
    ranked = importances(study, recorded)
    if ranked:
        print("Importance: " + ", ".join(f"{k} {v:.2f}" for k, v in ranked.items()))
    if out:
        write_text(out, text, "--apply-best")
    paths = write_results(recorded, ranked, folder)
    print(f"Results: {', '.join(str(p) for p in paths)}")
    if out:
        print(f"Best params written to {out}")
    return 0


def open_study(url: str, name: str) -> tuple[Any, str]:
    """The study `name` at `url`, opened to read, and the label its errors name (its file, or the URL
    without a password)."""
    import optuna

    label = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
    if url.startswith("sqlite:///"):
        label = url[len("sqlite:///"):]
        check_sqlite(Path(label), name)
    opened = storage(url, read_only=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's remarks on odd rows: nodeflow.sweep.recorded decides
            return optuna.load_study(study_name=name, storage=opened), label
    except KeyError:
        raise UserError(Issue(f"no study {name!r} in {label}", field="STUDY")) from None
    except Exception as exc:  # an untrusted database: whatever its decoder raises is one line
        first = (str(exc).splitlines() or [""])[0][:200] or "a row that cannot be decoded"
        raise UserError(Issue(f"study {name!r} cannot be read: {type(exc).__name__}: {first}",
                              file=label, field="STUDY")) from None


def best_workflow(recorded: Recorded, out: Path) -> str:
    """The study's workflow with its best trial's params, as the text to write into `out`; every
    check done: `out` may be written, the params are the study's own and inside their ranges."""
    problem = output_problem(out, hint="it is left as it is")
    if problem:
        raise UserError(Issue(problem, field="--apply-best"))
    if out.is_dir() or out.is_symlink():
        raise UserError(Issue("a folder or link is there; name a new file", file=str(out), field="--apply-best"))
    top = recorded.best()
    if top is None:
        raise UserError(Issue("no complete trial yet", field="--apply-best"))
    workflow = _workflow(recorded)
    registry = default_registry()
    try:
        dims = parse_params(workflow, registry, [f"{k}={v}" for k, v in recorded.params.items()])
    except UserError as exc:
        issue = exc.issues[0]
        raise recorded.bad(f"its params do not fit {workflow.label}: {issue.message}",
                           f"{issue.node}.{issue.field}" if issue.node else "params") from None
    values = check_params(recorded, top, dims)
    apply_overrides(workflow, registry, overrides(values))  # the same check as --set, once more
    return dumps(workflow)


def _workflow(recorded: Recorded) -> Any:
    path = Path(recorded.workflow)
    try:
        size = path.stat().st_size if path.is_file() else -1
    except OSError:
        size = -1
    if not 0 <= size <= WORKFLOW_LIMIT:
        raise recorded.bad(f"its workflow {recorded.workflow[:300]} is not a workflow file that can be read "
                           f"(at most {WORKFLOW_LIMIT // 2**20} MiB)", "workflow")
    return load_workflow(path)
