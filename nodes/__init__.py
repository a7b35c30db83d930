"""The built-in node types, one family per module."""
from __future__ import annotations

from nodes import (augment, datasets, encoders, evaluation, generation, generators, gpt, image_data, load_checkpoint,
                   models, modern, overlay, pretrained, python_model, split, text_data, training)

NODES = [*datasets.NODES, *image_data.NODES, *text_data.NODES, *generators.NODES, *augment.NODES, *split.NODES,
         *models.NODES, *gpt.NODES, *modern.NODES, *encoders.NODES, *pretrained.NODES, *python_model.NODES,
         *load_checkpoint.NODES, *training.NODES, *evaluation.NODES, *generation.NODES, *overlay.NODES]
