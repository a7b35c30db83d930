"""Does the editor train as fast as the CLI? Wall time of one run started from the editor vs the same
run headless, alternating, in one script.

    python benchmarks/editor_run.py [--epochs 7] [--repeats 3] [--at-once]

The digits example with `save_every_n_epochs=1` (a checkpoint every epoch, so the
Checkpoints panel, shown during the editor's runs, refreshes as often as it can) runs
from the editor (Run pressed until the run ends) and as the same child command from a
plain process. Prints each time, the medians and their ratio (editor / headless).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from editor_run_driver import editor_run_seconds, headless_run_seconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--at-once", action="store_true",
                        help="press Run right after the window opens, while its start-up helper still runs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nodeflow-editor-run-"))
    os.environ["NODEFLOW_HOME"] = str(work / "home")  # its runs stay out of ~/.nodeflow/runs
    doc = json.loads((ROOT / "workflows" / "digits_cnn.json").read_text())
    doc["nodes"]["trainer"]["params"].update(epochs=args.epochs, save_every_n_epochs=1)
    workflow = work / "digits.json"
    workflow.write_text(json.dumps(doc, indent=2))
    editor, headless = [], []
    for _ in range(args.repeats):
        headless.append(headless_run_seconds(workflow, work))
        editor.append(editor_run_seconds(workflow, work, args.at_once))
        print(f"headless {headless[-1]:6.2f} s   editor {editor[-1]:6.2f} s", flush=True)
    ratio = statistics.median(editor) / statistics.median(headless)
    print(f"median: headless {statistics.median(headless):.2f} s, editor {statistics.median(editor):.2f} s, "
          f"ratio editor/headless {ratio:.2f}x ({args.epochs} epochs, {args.repeats} repeats, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
