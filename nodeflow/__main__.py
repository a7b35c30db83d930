"""`python -m nodeflow ...` is the same as the `nodeflow` command (NodeFlow starts its own children
this way, with Python's safe path: nodeflow.launch.nodeflow_command).

Started by hand as `python -m nodeflow` (or by `torchrun -m nodeflow`), Python puts the working
directory first on sys.path; it is taken off again here, before any node pack is looked up, so a
`nodes` package or a `*.dist-info` node pack in that folder is never imported.
"""
from __future__ import annotations

import os
import sys


def drop_working_directory(path: list[str]) -> None:
    """Remove the entry `-m` put first on `path` (the working directory), unless NodeFlow itself is there."""
    if sys.flags.safe_path or not path:
        return
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    first = os.path.abspath(path[0] or os.curdir)
    if first == os.path.abspath(os.curdir) and first != here:
        del path[0]


drop_working_directory(sys.path)

from nodeflow.cli import main  # noqa: E402  (after the path is safe: the CLI loads node packs)

sys.exit(main())
