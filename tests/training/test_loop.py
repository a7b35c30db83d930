"""The training loop: real torch training on small seeded data."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from nodeflow.core import RunInterrupted
from nodeflow.checkpoints.run_request import RunFolder, RunRequest
from nodeflow.training.checkpoint_callback import Checkpoints
from nodeflow.training.data import CLASSIFICATION, make_bundle
from nodeflow.training.loop import Callback, TrainConfig, TrainingLoop
from nodes.models import MLP


def blobs(n: int = 240, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 4, generator=g) * 0.5 + torch.nn.functional.one_hot(y, 4).float() * 2
    return make_bundle(x, y, CLASSIFICATION, ("a", "b", "c"), "blobs")


def mlp(data):
    params = {p.name: p.default for p in MLP.params} | {"hidden": [16]}
    return MLP.rebuild({"params": params, "input_shape": data.input_shape, "output_size": data.output_size})


def fit(config: TrainConfig, callbacks=(), should_stop=lambda: False):
    data = blobs()
    loop = TrainingLoop(mlp(data), data, blobs(60, seed=1), config, callbacks, should_stop)
    return loop, loop.fit()


class StopAtStep(Callback):
    """A stop request that arrives once the loop has trained `step` batches (however often it is asked)."""

    def __init__(self, step: int) -> None:
        self.step, self.loop = step, None

    def on_fit_start(self, loop: TrainingLoop) -> None:
        self.loop = loop

    def __call__(self) -> bool:
        return self.loop is not None and self.loop.state.step >= self.step


def test_training_lowers_the_loss_and_learns_the_task() -> None:
    loop, state = fit(TrainConfig(epochs=15, batch_size=32, lr=0.01))
    assert state.epoch_losses[-1] < state.epoch_losses[0] / 2
    assert state.history["val_accuracy"][-1] > 0.9
    assert len(state.epoch_losses) == state.epoch == 15


def test_same_seed_gives_bitwise_identical_weights() -> None:
    a, _ = fit(TrainConfig(epochs=3, seed=7))
    b, _ = fit(TrainConfig(epochs=3, seed=7))
    c, _ = fit(TrainConfig(epochs=3, seed=8))
    for (name, wa), wb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert not all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(),
                                                      c.model.state_dict().values()))


@pytest.mark.parametrize("optimizer, scheduler", [("sgd", "step"), ("adamw", "cosine"), ("adam", "plateau")])
def test_every_optimizer_and_scheduler_trains(optimizer: str, scheduler: str) -> None:
    loop, state = fit(TrainConfig(epochs=4, optimizer=optimizer, scheduler=scheduler, lr=0.05, step_size=1))
    assert state.epoch_losses[-1] < state.epoch_losses[0]
    if scheduler in ("step", "cosine"):
        assert state.history["lr"][-1] < state.history["lr"][0]
    kind = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[optimizer]
    assert type(loop.optimizer) is kind  # the one chosen, not a default
    moments = {k for s in loop.optimizer.state.values() for k in s}
    assert moments == ({"momentum_buffer"} if optimizer == "sgd" else {"step", "exp_avg", "exp_avg_sq"})
    if optimizer == "sgd":  # and it trains differently from the default
        default, _ = fit(TrainConfig(epochs=4, scheduler=scheduler, lr=0.05, step_size=1))
        assert not all(torch.equal(a, b) for a, b in zip(loop.model.state_dict().values(),
                                                         default.model.state_dict().values()))


def test_mixed_precision_on_cpu_trains() -> None:
    """bf16: every training forward pass runs in bfloat16 under autocast; the weights stay float32."""
    data = blobs()
    model = mlp(data)
    seen: set[torch.dtype] = set()
    for layer in (m for m in model.modules() if isinstance(m, torch.nn.Linear)):
        layer.register_forward_hook(lambda m, args, out: seen.add(out.dtype) if m.training else None)
    loop = TrainingLoop(model, data, blobs(60, seed=1), TrainConfig(epochs=3, amp="bf16", lr=0.01))
    state = loop.fit()
    assert seen == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(math.isfinite(v) for v in state.epoch_losses)
    assert state.epoch_losses[-1] < state.epoch_losses[0]
    plain, _ = fit(TrainConfig(epochs=3, lr=0.01))
    assert not all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.model.state_dict().values()))


def test_the_fp16_grad_scaler_state_round_trips_through_a_resume(tmp_path: Path) -> None:
    """fp16 keeps a GradScaler (cuda in the Trainer; the loop runs it on cpu too, which is what CI has)."""
    config = TrainConfig(epochs=3, amp="fp16", lr=0.01, batch_size=32)
    whole, _ = fit(config)
    stop = StopAtStep(12)
    run = RunFolder(tmp_path, RunRequest(save_every_n_epochs=100, backup_checkpoints=True))
    with pytest.raises(RunInterrupted):
        fit(config, [Checkpoints(run, lambda e, **f: None, {}), stop], stop)
    saved = torch.load(tmp_path / "checkpoint_interrupted.pt")
    assert saved["scaler_state_dict"]["scale"] > 0 and saved["step"] == 12
    data = blobs()
    resumed = TrainingLoop(mlp(data), data, blobs(60, seed=1), config)
    resumed.load_state_dict(saved)
    assert resumed.scaler.state_dict() == saved["scaler_state_dict"]
    resumed.fit()
    assert resumed.scaler.state_dict() == whole.scaler.state_dict()
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_background_saves_hold_the_state_of_their_epoch_and_report_every_file(tmp_path: Path) -> None:
    runs = {}
    for mode in ("sync", "async"):
        run = RunFolder(tmp_path / mode, RunRequest(save_every_n_epochs=1, max_checkpoints=2, backup_checkpoints=True,
                                                     async_save=mode == "async"))
        events: list[tuple[str, dict]] = []
        ckpt = Checkpoints(run, lambda e, events=events, **f: events.append((e, f)), {})
        fit(TrainConfig(epochs=4, lr=0.01), [ckpt])
        runs[mode] = events
    assert sorted(f["path"].replace("async", "sync") for e, f in runs["async"]) == \
        sorted(f["path"] for e, f in runs["sync"])  # the same files saved and pruned, all reported
    for name in ("checkpoint_epoch_3.pt", "checkpoint_epoch_4.pt", "best_model.pt"):
        a, b = torch.load(tmp_path / "sync" / name), torch.load(tmp_path / "async" / name)
        assert a["epoch"] == b["epoch"]
        for key, tensor in a["model_state_dict"].items():  # not the weights of a later step
            assert torch.equal(tensor, b["model_state_dict"][key]), (name, key)
    assert not (tmp_path / "async" / "checkpoint_epoch_1.pt").exists()  # max_checkpoints=2


def test_a_failed_background_save_stops_training_with_one_line_and_keeps_earlier_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nodeflow.checkpoints.manager as api

    real, calls = api.atomic_save, {"n": 0}

    def full_disk_on_the_third_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "atomic_save", full_disk_on_the_third_save)
    run = RunFolder(tmp_path, RunRequest(save_every_n_epochs=1, backup_checkpoints=True, save_best=False,
                                          async_save=True))
    ckpt = Checkpoints(run, lambda e, **f: None, {})
    with pytest.raises(RuntimeError, match=r"could not write checkpoint .*checkpoint_epoch_3.pt: No space left "
                                           r"on device; earlier checkpoints are intact"):
        fit(TrainConfig(epochs=6, lr=0.01), [ckpt])
    assert [torch.load(tmp_path / f"checkpoint_epoch_{n}.pt")["epoch"] for n in (1, 2)] == [1, 2]
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "checkpoint_epoch_3.pt").exists()


def test_nan_is_never_the_best_value() -> None:
    loop, _ = fit(TrainConfig(epochs=1))
    loop.state.best = 0.5
    assert not loop._is_improvement(float("nan"))
    assert not loop._is_improvement(float("inf"))
    assert not loop._is_improvement(0.5)  # ties: the first stays best
    assert loop._is_improvement(0.4)


def test_a_stop_request_finishes_the_batch_and_writes_an_interrupt_checkpoint(tmp_path: Path) -> None:
    saved: list[dict] = []
    stop = StopAtStep(10)
    run = RunFolder(tmp_path, RunRequest(save_every_n_epochs=100, backup_checkpoints=True))
    ckpt = Checkpoints(run, lambda event, **f: saved.append(f), {"model": None})
    with pytest.raises(RunInterrupted):
        fit(TrainConfig(epochs=5, batch_size=32), [ckpt, stop], stop)
    data = torch.load(tmp_path / "checkpoint_interrupted.pt")
    assert data["epoch"] == 1 and data["batch_in_epoch"] == 2  # 8 batches per epoch
    assert data["step"] == 10
    assert [s["kind"] for s in saved] == ["best", "interrupt"]


def test_a_last_batch_of_one_sample_does_not_break_batch_norm() -> None:
    from nodes.models import CNN

    x = torch.rand(65, 1, 8, 8)
    data = make_bundle(x, (x.mean(dim=(1, 2, 3)) > 0.5).long(), CLASSIFICATION, ("lo", "hi"), "imgs")
    model = CNN.rebuild({"params": CNN.defaults(), "input_shape": [1, 8, 8], "output_size": 2})
    state = TrainingLoop(model, data, None, TrainConfig(epochs=2, batch_size=32)).fit()
    assert state.step == 4  # batches of 32 and 33 per epoch


def test_an_accuracy_monitor_keeps_the_highest_value_by_default() -> None:
    loop, state = fit(TrainConfig(epochs=6, lr=0.01, monitor="val_accuracy"))
    assert loop.mode == "max"
    assert state.best == max(state.history["val_accuracy"])
    first_best = state.history["val_accuracy"].index(state.best) + 1
    assert state.best_epoch == first_best


def test_a_diverging_run_stops_with_a_clear_message_and_nothing_nan_is_best(tmp_path: Path) -> None:
    from nodeflow.training.data import REGRESSION
    from nodeflow.training.loop import TrainingDiverged

    x = torch.randn(64, 3)
    data = make_bundle(x, x.sum(dim=1) * 100, REGRESSION, (), "reg")
    saved: list[dict] = []
    run = RunFolder(tmp_path, RunRequest(save_every_n_epochs=1, backup_checkpoints=True))
    ckpt = Checkpoints(run, lambda event, **f: saved.append(f), {"model": None})
    loop = TrainingLoop(mlp(data), data, None, TrainConfig(epochs=20, optimizer="sgd", lr=10.0), [ckpt])
    with pytest.raises(TrainingDiverged, match=r"training diverged: train loss is (nan|inf) in epoch \d+"):
        loop.fit()
    assert all(math.isfinite(torch.load(p)["loss"]) for p in tmp_path.glob("*.pt"))
    assert loop.state.best is None or math.isfinite(loop.state.best)


def test_one_class_is_refused_and_a_batch_larger_than_the_data_is_one_batch() -> None:
    from nodeflow.core import DataError

    x = torch.randn(10, 4)
    one = make_bundle(x, torch.zeros(10), CLASSIFICATION, ("only",), "one")
    with pytest.raises(DataError, match="has 1 class"):
        TrainingLoop(mlp(one), one, None, TrainConfig(epochs=1))
    data = blobs(30)
    state = TrainingLoop(mlp(data), data, None, TrainConfig(epochs=3, batch_size=1000)).fit()
    assert state.step == 3


def test_a_best_epoch_that_is_also_a_periodic_one_is_serialized_once_into_two_independent_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nodeflow.checkpoints.manifest import read_entries, verify_file

    serialized: list[int] = []
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: (serialized.append(1), real_save(obj, f, *a, **k)))
    run = RunFolder(tmp_path, RunRequest(save_every_n_epochs=1, backup_checkpoints=True))
    saved: list[dict] = []
    loop, state = fit(TrainConfig(epochs=3, lr=0.01), [Checkpoints(run, lambda e, **f: saved.append(f), {})])
    bests = [s["epoch"] for s in saved if s["kind"] == "best"]
    assert bests and len(serialized) == 3 + 1  # one per epoch and the final file; no second one for best
    best, periodic = tmp_path / "best_model.pt", tmp_path / f"checkpoint_epoch_{bests[-1]}.pt"
    assert best.read_bytes() == periodic.read_bytes() and best.stat().st_ino != periodic.stat().st_ino
    data = bytearray(periodic.read_bytes())
    data[len(data) // 2] ^= 0xFF
    periodic.write_bytes(bytes(data))  # damage to one file leaves the other intact
    entries = read_entries(tmp_path)
    assert verify_file(best, entries["best_model.pt"]) is None and verify_file(periodic, entries[periodic.name])


def test_compile_that_fails_says_so_in_one_line_and_training_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a working C++ compiler: torch.compile fails on the first batch."""
    import torch._dynamo
    import torch._inductor.config as inductor

    monkeypatch.setattr(inductor.cpp, "cxx", ("/nonexistent/c++",))
    data, notes = blobs(), []
    try:
        loop = TrainingLoop(mlp(data), data, None, TrainConfig(epochs=3, lr=0.01, compile=True), log=notes.append)
        state = loop.fit()
    finally:
        torch._dynamo.reset()
    assert len(notes) == 1 and notes[0].startswith("torch.compile failed (") \
        and notes[0].endswith("); training without it") and "\n" not in notes[0]
    assert state.epoch == 3 and state.epoch_losses[-1] < state.epoch_losses[0]
