"""The CheckpointManager API as its reference documentation uses it: every code example there,
pasted as it stands (only the import path changed), on tiny real models, checking what it prints
and logs; and the semantics those examples rely on (latest after a delete, validate returning
False, max_checkpoints counting the best, a save that is not due saying why)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from nodeflow.checkpoints import CheckpointConfig, CheckpointManager, CheckpointMetadata, validate_checkpoint
from nodeflow.core.errors import CheckpointError

LOGGER = "nodeflow.checkpoints"


def skipped(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and "not saved" in r.getMessage()]


def plant(manager: CheckpointManager, checkpoint_id: str, model: nn.Module, epoch: int, metrics: dict) -> None:
    """A checkpoint under one of the documentation's literal ids (saved on 2023-12-01 there)."""
    payload = {"epoch": epoch, "step": 100 * epoch, "model_state_dict": model.state_dict(), "metrics": metrics,
               "config": {}, "monitor": "val_loss"}
    manager.save_file(checkpoint_id + ".pt", payload, "periodic", extra={"checkpoint_id": checkpoint_id})


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the examples write to "checkpoints" relative to the current folder
    return tmp_path


def test_basic_setup_save_and_load_say_why_nothing_was_saved(in_tmp: Path, capsys, caplog) -> None:
    from nodeflow.checkpoints import CheckpointManager, CheckpointConfig

    # Create configuration
    config = CheckpointConfig(
        checkpoint_dir="checkpoints",
        save_interval=5,  # Save every 5 epochs
        max_checkpoints=10,
        save_best_only=False,
        monitor_metric="val_loss",
        monitor_mode="min"
    )

    # Initialize checkpoint manager
    checkpoint_manager = CheckpointManager(config, experiment_name="my_experiment")

    import torch
    import torch.nn as nn

    # Create model and optimizer
    model = nn.Linear(10, 1)
    optimizer = torch.optim.Adam(model.parameters())

    # Save checkpoint
    checkpoint_id = checkpoint_manager.save_checkpoint(
        model=model,
        optimizer=optimizer,
        epoch=1,
        step=100,
        metrics={'val_loss': 0.5, 'accuracy': 0.85},
        tags=['demo', 'experiment'],
        description="First successful training run"
    )

    print(f"Checkpoint saved: {checkpoint_id}")

    assert capsys.readouterr().out == "Checkpoint saved: None\n"
    assert skipped(caplog) == ["checkpoint not saved at epoch 1: save interval not reached "
                               "(save_interval=5 saves at epochs divisible by 5)"]
    assert caplog.records[-1].levelno == logging.WARNING  # visible without logging set up: nothing saved yet
    assert not list((in_tmp / "checkpoints").rglob("*.pt"))

    # Troubleshooting: Checkpoint Not Saving (the user's own check agrees with the log line)
    epoch, improved = 1, False
    # Check if conditions are met
    if epoch % config.save_interval != 0:
        print("Save interval not reached")

    if config.save_best_only and not improved:
        print("Performance not improved")
    assert capsys.readouterr().out == "Save interval not reached\n"

    # Loading a Checkpoint: nothing was saved, so the load is a one-line error naming the id
    with pytest.raises(CheckpointError, match="no checkpoint 'checkpoint_epoch_0001_step_000100_20231201_143022'; "
                                              "the folder has none"):
        # Load checkpoint
        checkpoint_data = checkpoint_manager.load_checkpoint(
            checkpoint_id="checkpoint_epoch_0001_step_000100_20231201_143022",
            model=model,
            optimizer=optimizer
        )

    # Migration: From Basic Checkpointing, at an epoch the interval reaches
    checkpoint_data, epoch, step, metrics = {"model_state_dict": model.state_dict()}, 5, 500, {"val_loss": 0.4}
    # Old basic checkpointing
    torch.save(checkpoint_data, "checkpoint.pt")

    # New advanced checkpointing
    checkpoint_id = checkpoint_manager.save_checkpoint(
        model=model,
        optimizer=optimizer,
        epoch=epoch,
        step=step,
        metrics=metrics
    )
    assert checkpoint_id.startswith("checkpoint_epoch_0005_step_000500_")
    assert checkpoint_manager.load_checkpoint()["epoch"] == 5


def test_loading_and_comparing_the_documented_ids(in_tmp: Path, capsys) -> None:
    config = CheckpointConfig(checkpoint_dir="checkpoints", save_interval=5, max_checkpoints=10)
    checkpoint_manager = CheckpointManager(config, experiment_name="my_experiment")
    torch.manual_seed(0)
    model = nn.Linear(10, 1)
    optimizer = torch.optim.Adam(model.parameters())
    saved = [nn.Linear(10, 1) for _ in range(3)]
    for epoch, (stamp, accuracy, net) in enumerate(zip(("143022", "143045", "143100"), (0.81, 0.82, 0.83), saved), 1):
        plant(checkpoint_manager, f"checkpoint_epoch_{epoch:04d}_step_{100 * epoch:06d}_20231201_{stamp}", net,
              epoch, {"val_loss": 0.5 / epoch, "accuracy": accuracy})

    # Load checkpoint
    checkpoint_data = checkpoint_manager.load_checkpoint(
        checkpoint_id="checkpoint_epoch_0001_step_000100_20231201_143022",
        model=model,
        optimizer=optimizer
    )

    if checkpoint_data:
        print(f"Loaded checkpoint from epoch {checkpoint_data['epoch']}")

    assert capsys.readouterr().out == "Loaded checkpoint from epoch 1\n"
    assert model.weight.equal(saved[0].weight)

    # Compare multiple checkpoints
    comparison = checkpoint_manager.compare_checkpoints([
        "checkpoint_epoch_0001_step_000100_20231201_143022",
        "checkpoint_epoch_0002_step_000200_20231201_143045",
        "checkpoint_epoch_0003_step_000300_20231201_143100"
    ])

    print("Metrics comparison:")
    for metric, values in comparison['metrics_comparison'].items():
        print(f"{metric}: {values}")

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Metrics comparison:"
    assert lines[1] == ("accuracy: {'checkpoint_epoch_0001_step_000100_20231201_143022': 0.81, "
                        "'checkpoint_epoch_0002_step_000200_20231201_143045': 0.82, "
                        "'checkpoint_epoch_0003_step_000300_20231201_143100': 0.83}")
    assert lines[2].startswith("val_loss: {'checkpoint_epoch_0001_step_000100_20231201_143022': 0.5, ")


def test_best_only_checkpointing_keeps_at_most_max_checkpoints_and_says_why_it_skips(in_tmp: Path,
                                                                                    caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    y = x @ torch.randn(10, 1) + 0.3 * torch.randn(64, 1)
    model = nn.Linear(10, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    val_losses: list[float] = []

    def train_epoch() -> float:
        for i in range(0, 48, 8):  # small noisy batches: the validation loss goes down, then wanders
            loss = nn.functional.mse_loss(model(x[i:i + 8]), y[i:i + 8])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            val_losses.append(nn.functional.mse_loss(model(x[48:]), y[48:]).item())
        return val_losses[-1]

    config = CheckpointConfig(
        save_best_only=True,
        monitor_metric="val_loss",
        monitor_mode="min"
    )

    checkpoint_manager = CheckpointManager(config, "best_only_experiment")

    # Only saves when val_loss improves
    for epoch in range(100):
        val_loss = train_epoch()
        checkpoint_manager.save_checkpoint(
            model=model,
            optimizer=optimizer,
            epoch=epoch,
            metrics={'val_loss': val_loss}
        )

    improvements = [i for i, v in enumerate(val_losses) if v < min(val_losses[:i], default=float("inf"))]
    assert 10 < len(improvements) < 100  # both kinds of epoch happened
    kept = checkpoint_manager.list_checkpoints()
    assert [m.epoch for m in kept] == improvements[-10:]  # max_checkpoints (10) files, the best among them
    assert len(list(checkpoint_manager.folder.glob("*.pt"))) == 10
    best = [m for m in kept if m.is_best]
    assert [m.epoch for m in best] == [improvements[-1]] and best[0].metrics["val_loss"] == min(val_losses)
    reasons = skipped(caplog)
    assert len(reasons) == 100 - len(improvements)
    assert all("performance not improved (val_loss=" in r and "save_best_only" in r for r in reasons)


def test_max_checkpoints_counts_the_best_whether_it_is_newest_or_oldest(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    newest_best = CheckpointManager(CheckpointConfig(checkpoint_dir=tmp_path, max_checkpoints=3), "down")
    ids = [newest_best.save_checkpoint(model, epoch=e, metrics={"val_loss": 1 / e}) for e in range(1, 8)]
    assert [m.checkpoint_id for m in newest_best.list_checkpoints()] == ids[-3:]
    oldest_best = CheckpointManager(CheckpointConfig(checkpoint_dir=tmp_path, max_checkpoints=3), "up")
    ids = [oldest_best.save_checkpoint(model, epoch=e, metrics={"val_loss": e}) for e in range(1, 8)]
    assert [m.checkpoint_id for m in oldest_best.list_checkpoints()] == [ids[0], *ids[-2:]]
    assert oldest_best.list_checkpoints()[0].is_best


def test_environment_configurations_and_the_summary_after_deleting_the_newest(in_tmp: Path, capsys) -> None:
    # Development environment
    dev_config = CheckpointConfig(
        save_interval=1,
        max_checkpoints=5,
        save_best_only=False
    )

    # Production environment
    prod_config = CheckpointConfig(
        save_interval=10,
        max_checkpoints=20,
        save_best_only=True,
        backup_checkpoints=True,
        validate_checkpoints=True
    )
    assert (prod_config.save_interval, prod_config.max_checkpoints, prod_config.save_best_only) == (10, 20, True)

    checkpoint_manager = CheckpointManager(dev_config, "dev")
    model = nn.Linear(4, 2)
    ids = [checkpoint_manager.save_checkpoint(model, epoch=e, step=10 * e, metrics={"val_loss": 1 / e})
           for e in range(1, 8)]
    checkpoint_manager.delete_checkpoint(ids[-1])  # the newest, which was also the best

    summary = checkpoint_manager.get_checkpoint_summary()
    print(f"Total checkpoints: {summary['total_checkpoints']}")
    print(f"Total size: {summary['total_size_mb']:.2f} MB")
    print(f"Best checkpoint: {summary['best_checkpoint']}")
    print(f"Latest checkpoint: {summary['latest_checkpoint']}")

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Total checkpoints: 4" and out[1].startswith("Total size: 0.0") and out[1].endswith(" MB")
    assert out[3] == f"Latest checkpoint: {ids[-2]}"
    assert [m.is_latest for m in checkpoint_manager.list_checkpoints()] == [False, False, False, True]
    assert checkpoint_manager.load_checkpoint()["epoch"] == 6  # 'latest' is the newest file left

    # Storage Issues
    import shutil
    checkpoint_dir = dev_config.checkpoint_dir
    total, used, free = shutil.disk_usage(checkpoint_dir)
    print(f"Available space: {free // (1024**3)} GB")
    assert capsys.readouterr().out.startswith("Available space: ")


def test_validation_returns_false_for_unknown_ids_and_damaged_files_and_logs_why(in_tmp: Path, capsys,
                                                                                 caplog) -> None:
    checkpoint_manager = CheckpointManager(CheckpointConfig(), "my_experiment")
    real = checkpoint_manager.save_checkpoint(nn.Linear(10, 1), epoch=1, step=100, metrics={"val_loss": 0.5})

    # Validate checkpoint integrity
    is_valid = checkpoint_manager.validate_checkpoint("checkpoint_id")
    if is_valid:
        print("Checkpoint is valid and can be loaded safely")
    else:
        print("Checkpoint is corrupted or invalid")

    assert capsys.readouterr().out == "Checkpoint is corrupted or invalid\n"
    assert caplog.records[-1].getMessage().startswith(
        f"checkpoint 'checkpoint_id' is not valid: checkpoints/my_experiment: no checkpoint 'checkpoint_id'; "
        f"nearest: {real}")
    assert checkpoint_manager.validate_checkpoint(real) and not checkpoint_manager.validate_checkpoint(42)

    checkpoint_path = checkpoint_manager.folder / f"{real}.pt"
    expected_checksum = checkpoint_manager.list_checkpoints()[0].checksum
    data = bytearray(checkpoint_path.read_bytes())
    data[300] ^= 0xFF
    checkpoint_path.write_bytes(bytes(data))
    assert not checkpoint_manager.validate_checkpoint(real)
    assert "SHA-256 does not match the manifest (corrupted)" in caplog.records[-1].getMessage()

    # Checkpoint Loading Failed
    # Check file existence
    if not checkpoint_path.exists():
        print("Checkpoint file not found")

    # Check checksum validation
    if not validate_checkpoint(checkpoint_path, expected_checksum):
        print("Checkpoint corrupted")

    assert capsys.readouterr().out == "Checkpoint corrupted\n"


def test_the_metadata_record_has_every_documented_field() -> None:
    documented = """checkpoint_id timestamp epoch step model_name experiment_name file_size checksum metrics
                    config tags description is_best is_latest""".split()
    assert set(documented) <= set(CheckpointMetadata.__dataclass_fields__)
