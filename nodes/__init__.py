"""The built-in node types, one family per module."""
from __future__ import annotations

from nodes import checkpoints, datasets, evaluation, models, split, training

NODES = [*datasets.NODES, *split.NODES, *models.NODES, *checkpoints.NODES, *training.NODES,
         *evaluation.NODES]
