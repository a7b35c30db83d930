"""The Trainer's options have one source, its declaration: the loop takes exactly the options
declared outside the checkpoint and resume sections, and a key it does not know is refused by
name, never dropped. Which nodes train is asked of their type, in one place."""
from __future__ import annotations

from dataclasses import fields

import pytest

from nodeflow.core import DataError, default_registry, load_workflow
from nodeflow.training.loop import TrainConfig
from nodes.training import TRAINER, saving_options
from tests.conftest import WORKFLOWS


def test_the_declaration_and_the_loop_list_the_same_options() -> None:
    declared = {p.name for p in TRAINER.params}
    assert saving_options() <= declared and "checkpoint_dir" in saving_options()
    assert declared - saving_options() == {f.name for f in fields(TrainConfig)}


def test_an_option_the_loop_does_not_know_is_refused_by_name() -> None:
    params = {**TRAINER.defaults(), "lr_warmup": 5}  # declared somewhere, taken by nothing
    with pytest.raises(DataError, match="no option 'lr_warmup'"):
        TrainConfig.from_params(params, elsewhere=saving_options())
    config = TrainConfig.from_params({**TRAINER.defaults(), "epochs": 3}, elsewhere=saving_options())
    assert config.epochs == 3 and config.lr == TRAINER.defaults()["lr"]


def test_trainers_are_found_by_their_type() -> None:
    workflow = load_workflow(WORKFLOWS / "wine_mlp.json")
    workflow.node_by_name("Trainer").name = "Fit"  # the name says nothing about the type
    assert [n.name for n in default_registry().trainers(workflow)] == ["Fit"]
