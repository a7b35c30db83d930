"""Render the editor screenshots in docs/: `python docs/make_screenshots.py` (offscreen, about a minute).

editor.png: the digits example; trainer-dialog.png: the Trainer's parameter dialog;
run-in-progress.png: a real run of the example, grabbed after a few epochs;
library.png: the Checkpoints panel's Library view after that run.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nodeflow.gui.docs_shots import render_docs_screenshots  # noqa: E402

if __name__ == "__main__":
    written = render_docs_screenshots(ROOT / "workflows" / "digits_cnn.json", ROOT / "docs")
    print("wrote", ", ".join(map(str, written)))
