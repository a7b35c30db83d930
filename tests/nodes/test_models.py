"""Model nodes build from data shape and rebuild identically from a saved config."""
from __future__ import annotations

import pytest
import torch

from nodeflow.core import DataError
from nodes.models import CNN, MLP, RESNET


@pytest.mark.parametrize("spec, shape", [(MLP, [64]), (CNN, [1, 8, 8]), (RESNET, [3, 24, 24])])
def test_rebuild_gives_the_same_architecture_and_initial_weights(spec, shape) -> None:
    config = {"params": spec.defaults(), "input_shape": shape, "output_size": 5}
    a, b = spec.rebuild(config), spec.rebuild(config)
    for wa, wb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(wa, wb)
    assert a.nodeflow_config["type"] == spec.type
    assert a.eval()(torch.zeros(2, *shape)).shape == (2, 5)


def test_cnn_on_flat_features_says_to_use_an_mlp() -> None:
    with pytest.raises(DataError, match="use an MLP"):
        CNN.rebuild({"params": CNN.defaults(), "input_shape": [13], "output_size": 3})
