"""The editor: the only package that imports PySide6, NodeGraphQt or a matplotlib Qt backend.

It adapts: specs become node classes and dialogs, gestures become edits of the graph,
run events (read from a child `nodeflow run --events jsonl`) become widget updates.
"""
from __future__ import annotations

import os

# NodeGraphQt reaches Qt through the Qt.py shim; make it pick PySide6 whatever else is installed.
os.environ.setdefault("QT_PREFERRED_BINDING", "PySide6")
