"""The built-in node types, one family per module."""
from __future__ import annotations

from nodes import (augment, checkpoints, datasets, evaluation, generation, generators, image_data, models,
                   overlay, python_model, split, text_data, training)

NODES = [*datasets.NODES, *image_data.NODES, *text_data.NODES, *generators.NODES, *augment.NODES, *split.NODES,
         *models.NODES, *python_model.NODES, *checkpoints.NODES, *training.NODES, *evaluation.NODES,
         *generation.NODES, *overlay.NODES]
