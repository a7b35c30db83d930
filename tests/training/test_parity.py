"""The TrainingLoop computes exactly what a hand-written PyTorch loop computes."""
from __future__ import annotations

import torch

from benchmarks.parity import data, nodeflow_loop, plain_loop


def test_trainingloop_weights_equal_a_plain_loop_bit_for_bit() -> None:
    bundle = data()
    plain, ours = plain_loop(bundle, 2, 64), nodeflow_loop(bundle, 2, 64)
    for (name, a), b in zip(plain.state_dict().items(), ours.state_dict().values()):
        assert torch.equal(a, b), name
