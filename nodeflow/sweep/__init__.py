"""Sweeps: Optuna studies over node params, each trial a normal run (see docs/sweeps.md).

Nothing here is imported at the CLI's start-up but `commands` (argument parsing); Optuna and
matplotlib load only when a sweep command runs.
"""
