"""`nodeflow runs`: list, show and compare the runs in the run index (nodeflow/runs.py)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nodeflow.checkpoints.manifest import value_text
from nodeflow.runs import compare_table, final_metrics, find_run, load_runs

EXIT_OK = 0


def add_parser(sub: Any) -> None:
    runs = sub.add_parser("runs", help="the runs recorded so far: list, show, compare").add_subparsers(
        dest="runs_command", required=True)
    listing = runs.add_parser("list", help="one line per run, oldest first")
    listing.add_argument("--json", action="store_true", help="one JSON record per line")
    runs.add_parser("show", help="everything recorded about one run").add_argument("run", help="run id or its start")
    runs.add_parser("compare", help="params that differ and final metrics, side by side") \
        .add_argument("runs", nargs="+", metavar="RUN")


def run(args: argparse.Namespace) -> int:
    return {"list": cmd_list, "show": cmd_show, "compare": cmd_compare}[args.runs_command](args)


def _load(warn: bool = False) -> list[dict[str, Any]]:
    """The run index; with `warn`, each record left out is named on stderr in one line."""
    skipped: list[str] = []
    runs = load_runs(skipped)
    for line in skipped if warn else ():
        print(f"warning: {line}", file=sys.stderr)
    return runs


def _headline(record: dict[str, Any]) -> str:
    metrics = final_metrics(record)
    key = next((k for k in metrics if k.endswith((".accuracy", ".r2"))), None) or \
        next((k for k in metrics if k.endswith("val_loss")), None)
    return f"{key} {value_text(metrics[key])}" if key else ""


def cmd_list(args: argparse.Namespace) -> int:
    runs = _load(warn=True)
    if args.json:
        for record in runs:
            print(json.dumps(record, default=str))
        return EXIT_OK
    for r in runs:
        changed = ", ".join(f"{k}={v[1]}" for k, v in (r.get("changed") or {}).items())
        seconds = f"{r['seconds']:.1f} s" if isinstance(r.get("seconds"), (int, float)) else "-"
        print(f"{r['id']}  {r.get('status', '?'):<11} {r.get('started', ''):<19}  {seconds:>8}  "
              f"{r.get('workflow', '')}  {_headline(r)}" + (f"  [{changed}]" if changed else ""))
    if not runs:
        print("(no runs recorded yet)")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    r = find_run(args.run, _load())
    for key in ("id", "status", "workflow", "workflow_hash", "started", "ended", "seconds"):
        print(f"{key + ':':15}{value_text(r.get(key))}")
    for title, values in (("changed", {k: f"{v[0]!r} -> {v[1]!r}" for k, v in (r.get("changed") or {}).items()}),
                          ("checkpoints", r.get("checkpoints") or {}), ("metrics", final_metrics(r))):
        print(f"{title}:")
        for key, value in values.items():
            print(f"  {key}: {value_text(value)}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    runs = _load()
    records = [find_run(key, runs) for key in args.runs]
    rows = [("run", [r["id"] for r in records]), ("status", [r.get("status", "?") for r in records])]
    rows += compare_table(records)
    width = max(len(label) for label, _ in rows) + 2
    cell = max(len(c) for _, cells in rows for c in cells) + 2
    for label, cells in rows:
        print(label.ljust(width) + "".join(c.ljust(cell) for c in cells))
    return EXIT_OK
