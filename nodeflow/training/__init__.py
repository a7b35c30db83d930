"""Training: the loop, its callbacks, checkpoints, metrics, devices. torch, never Qt."""
