"""NodeFlow's version, in a module of its own: what records it (checkpoints, the reuse index) imports
it without the package root, whose lazy `load` and `restore_model` sit above everything."""
from __future__ import annotations

__version__ = "0.1.0"
