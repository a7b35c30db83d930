"""Running from the editor: a real child process trains; files appear while the plot fills;
Stop leaves an interrupt checkpoint; a killed or crashing child leaves the editor usable."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from PySide6 import QtCore, QtTest, QtWidgets

from nodeflow.gui.badges import badge_of
from tests.conftest import run_cli
from tests.gui.conftest import answer_modal, click, names, node, small_workflow

RUN_TIMEOUT_MS = 240_000


def run_and_wait(qtbot: Any, window: Any) -> tuple[int, str]:
    with qtbot.waitSignal(window.runs.process.ended, timeout=RUN_TIMEOUT_MS) as ended:
        window.runs.panel.run_button.click()
    return ended.args[0], ended.args[1]


def test_run_from_the_editor_writes_periodic_best_and_final_while_the_plot_fills(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    path = small_workflow(tmp_path, epochs=2)
    saved = path.read_bytes()
    window = make_window(path)
    node(window, "Trainer").set_property("nf_param_epochs", 3)  # an unsaved edit: it runs, the file stays as it was
    seen: list[tuple[int, set[str], int]] = []
    panel = window.runs.panel
    at_end: list[tuple[bool, bool, str]] = []  # what the panel shows once "Run completed" is printed

    def after_run_end() -> None:  # the next turn of the event loop: what the user sees, and a press on Stop
        at_end.append((panel.run_button.isEnabled(), panel.stop_button.isEnabled(), panel.status.text()))
        QtTest.QTest.mouseClick(panel.stop_button, QtCore.Qt.MouseButton.LeftButton)

    def on_event(e: dict[str, Any]) -> None:
        if e["event"] == "epoch_end":
            files = {p.name for p in (tmp_path / "ck").glob("*.pt")}
            seen.append((e["epoch"], files, len(window.runs.panel.curves.points("train_loss"))))
        if e["event"] == "run_end":
            QtCore.QTimer.singleShot(0, after_run_end)

    window.runs.process.event.connect(on_event)
    code, summary = run_and_wait(qtbot, window)
    qtbot.waitUntil(lambda: not window.runs.process.alive(), timeout=RUN_TIMEOUT_MS)  # the child has exited
    assert (code, summary) == (0, "Run completed."), window.runs.panel.console.toPlainText()
    # finished as soon as the runner said so, though its child was still exiting; Stop then does nothing
    assert at_end == [(True, False, "Run completed.")]
    assert "force" not in panel.console.toPlainText() and panel.status.text() == "Run completed."
    assert window.isWindowModified() and path.read_bytes() == saved  # only Save writes the workflow file
    files = {p.name for p in (tmp_path / "ck").glob("*.pt")}
    assert files == {"checkpoint_epoch_1.pt", "checkpoint_epoch_2.pt", "checkpoint_epoch_3.pt", "best_model.pt",
                     "final_model.pt"}
    # while training, the plot has N points at epoch N, and files appear: saves run in the background,
    # one at a time, so epoch 1's files exist once epoch 2's save has started, before epoch 3's event
    assert [epoch for epoch, _, _ in seen] == [1, 2, 3]
    assert "checkpoint_epoch_1.pt" in seen[2][1] and "best_model.pt" in seen[2][1]
    assert [points for _, _, points in seen] == [1, 2, 3]
    assert len(window.runs.panel.curves.points("val_loss")) == 3
    assert window.runs.panel.progress.value() == 1000
    assert all(badge_of(n) == "done" for n in window.graph.all_nodes())
    console = window.runs.panel.console.toPlainText()
    assert "Epoch [3/3], Loss:" in console and "✓ Saved checkpoint: checkpoint_epoch_3.pt" in console
    assert "✓ Training complete. Final model saved to:" in console and "Evaluate: accuracy" in console
    assert console.count("Run completed") == 1  # the runner says it; the editor does not say it again
    assert torch.load(tmp_path / "ck" / "final_model.pt")["epoch"] == 3
    qtbot.waitUntil(lambda: window.runs.panel.checkpoints.table.rowCount() == 5, timeout=60000)
    # Run again unchanged: the Trainer is reused and shows the result of the training it reuses, marked
    trained = window.runs.results.text_of("Trainer")
    assert "best val_loss" in trained and "last val_loss" in trained and trained.endswith("→ ck")
    assert run_and_wait(qtbot, window)[0] == 0 and badge_of(node(window, "Trainer")) == "reused"
    assert window.runs.results.text_of("Trainer") == "reused: the last run's result\n" + trained
    assert window.runs.results.text_of("Evaluate").startswith("accuracy") and not window.runs.results.text_of("Split")
    # so does a new editor, from the run index: that training's final metrics and its folder
    again = make_window(path)
    node(again, "Trainer").set_property("nf_param_epochs", 3)  # the graph the first window ran
    assert run_and_wait(qtbot, again)[0] == 0 and badge_of(node(again, "Trainer")) == "reused"
    shown = again.runs.results.text_of("Trainer").splitlines()
    assert shown[0] == "reused: the last run's result" and shown[-1] == "→ ck"
    assert shown[1].startswith("last val_loss ") and shown[1] in trained.splitlines()


def test_a_file_saved_by_the_editor_runs_headless_unchanged(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    path = small_workflow(tmp_path, epochs=2, checkpoint_dir="from_cli")
    window = make_window(path)
    node(window, "Trainer").set_property("nf_param_save_every_n_epochs", 2)
    assert window.save()
    done = run_cli("run", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "from_cli").glob("*.pt")} == {"checkpoint_epoch_2.pt", "best_model.pt",
                                                                      "final_model.pt"}


def test_stop_interrupts_cleanly_and_leaves_an_interrupt_checkpoint(qtbot: Any, make_window: Any,
                                                                     tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=200, batch_size=16))
    window.runs.process.event.connect(lambda e: e["event"] == "epoch_end" and window.runs.stop())
    code, summary = run_and_wait(qtbot, window)
    assert (code, summary) == (130, "Run stopped.")
    assert (tmp_path / "ck" / "checkpoint_interrupted.pt").is_file()
    assert torch.load(tmp_path / "ck" / "checkpoint_interrupted.pt")["epoch"] >= 1
    assert badge_of(node(window, "Trainer")) == "stopped"
    assert window.runs.panel.run_button.isEnabled() and not window.runs.panel.stop_button.isEnabled()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_killed_or_crashing_run_leaves_the_editor_usable(qtbot: Any, make_window: Any, tmp_path: Path,
                                                          sig: int) -> None:
    window = make_window(small_workflow(tmp_path, epochs=200, batch_size=16))
    def kill(e: dict[str, Any]) -> None:
        if e["event"] == "checkpoint_saved" and e["kind"] == "periodic":  # epoch_end comes before the save
            os.kill(window.runs.process.process.processId(), sig)

    window.runs.process.event.connect(kill)
    code, summary = run_and_wait(qtbot, window)
    window.runs.process.event.disconnect(kill)
    assert code == -1 and "crashed or was killed" in summary
    assert badge_of(node(window, "Trainer")) == "failed"
    assert "crashed or was killed" in window.statusBar().currentMessage()
    assert window.runs.panel.run_button.isEnabled()
    # still usable: earlier checkpoints intact, edits, validation and a new run work
    assert torch.load(tmp_path / "ck" / "checkpoint_epoch_1.pt")["epoch"] == 1
    node(window, "Trainer").set_property("nf_param_epochs", 1)
    with answer_modal(qtbot, lambda box: next(b for b in box.buttons() if b.text() == "Continue").click()):
        code, summary = run_and_wait(qtbot, window)
    assert code == 0 and badge_of(node(window, "Trainer")) == "done"
    assert node(window, "Trainer").get_property("nf_param_resume") == ""  # the choice was for that run only


def test_a_run_that_fails_marks_the_node_with_its_error(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    csv = tmp_path / "data.csv"
    csv.write_text("a,b,label\n1,2,x\n3,4,y\nfive,6,x\n7,8,y\n")  # only reading the rows finds "five"
    window = make_window(Path(__file__).parents[2] / "workflows" / "wine_mlp.json")
    window.meta.path = tmp_path / "wine.json"
    node(window, "Wine").set_property("nf_param_path", str(csv))
    node(window, "Wine").set_property("nf_param_target", "label")
    assert window.runs.validate(), window.runs.panel.issues.item(0).text()
    code, _ = run_and_wait(qtbot, window)
    assert code == 2
    assert badge_of(node(window, "Wine")) == "failed"
    assert "data.csv line 4, column 'a': not a number ('five')" in node(window, "Wine").view._nf_badge.toolTip()
    assert "node 'Wine' field 'path': data.csv line 4" in window.runs.panel.console.toPlainText()


def test_closing_the_editor_during_a_run_stops_the_child_cleanly(qtbot: Any, make_window: Any,
                                                                  tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=200, batch_size=16))
    with qtbot.waitSignal(window.runs.process.event, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda e: e["event"] == "epoch_end"):
        window.runs.panel.run_button.click()
    pid = window.runs.process.process.processId()
    buttons = QtWidgets.QMessageBox.StandardButton
    with answer_modal(qtbot, lambda box: box.button(buttons.Yes).click()):
        assert window.close()
    assert not window.runs.process.running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert (tmp_path / "ck" / "checkpoint_interrupted.pt").is_file()
    assert names(window)  # the document was not touched


def test_a_language_model_run_shows_its_latest_samples_and_the_generated_text(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(Path(__file__).parents[2] / "workflows" / "stories_modern.json")
    window.meta.path = tmp_path / "stories.json"
    for name, param, value in (("Stories", "samples", 60), ("ModernTransformer", "n_layer", 1),
                               ("Trainer", "max_iters", 0), ("Trainer", "epochs", 2),
                               ("Trainer", "checkpoint_dir", str(tmp_path / "ck")), ("Generate", "max_new_tokens", 20)):
        node(window, name).set_property(f"nf_param_{param}", value)
    code, summary = run_and_wait(qtbot, window)
    assert (code, summary) == (0, "Run completed."), window.runs.panel.console.toPlainText()
    samples = window.runs.panel.samples.toPlainText()
    assert samples.startswith("After epoch 2/2:") and samples.count("─" * 40) == 1  # the Trainer's two samples
    console = window.runs.panel.console.toPlainText()
    assert "[Generate] Generated:" in console and "Once upon a time" in console
    assert "Generate wrote:\n\nOnce upon a time" in samples  # the Samples tab shows the generated text too
    assert window.runs.results.text_of("Generate").startswith("Once upon a time")  # and so does the node


def test_a_python_model_node_carries_a_note_that_the_workflow_runs_its_code(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text("from torch import nn\n\n\nclass Net(nn.Linear):\n    pass\n")
    path = small_workflow(tmp_path)
    doc = json.loads(path.read_text())
    doc["nodes"]["cnn"].update(type="model.python", params={"target": "net.py:Net"})
    path.write_text(json.dumps(doc))
    window = make_window(path)
    assert window.runs.validate(), window.runs.panel.issues.item(0).text()
    model = node(window, "CNN")
    assert badge_of(model) == "warning" and "runs Python code from net.py" in model.view._nf_badge.toolTip()
    notes = [window.runs.panel.issues.item(i).text() for i in range(window.runs.panel.issues.count())]
    assert any(n.startswith("Note: node 'CNN'") and "net.py" in n for n in notes)


def test_the_device_picker_offers_ddp_and_runs_the_workflow_in_two_processes(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    from nodeflow.training.device import available_devices

    window = make_window(small_workflow(tmp_path))
    node(window, "Trainer").set_property("nf_param_epochs", 2)
    window.runs.panel.set_devices(available_devices(cores=8))  # this CI machine has fewer cores than that
    picker = window.runs.panel.device
    picker.setCurrentIndex(picker.findText("2 processes (DDP) on cpu"))
    assert picker.currentData() == "ddp:2:cpu"
    code, summary = run_and_wait(qtbot, window)
    assert (code, summary) == (0, "Run completed."), window.runs.panel.console.toPlainText()
    assert "--nproc" in window.runs.process.process.arguments()
    console = window.runs.panel.console.toPlainText()
    assert console.count("Epoch [2/2], Loss:") == 1  # rank 0 speaks; rank 1 trains quietly
    assert torch.load(tmp_path / "ck" / "final_model.pt")["world_size"] == 2


def test_after_a_run_into_a_run_named_folder_the_checkpoints_tab_lists_that_folder(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=1, checkpoint_dir="ck/{run}"))
    code, _ = run_and_wait(qtbot, window)
    assert code == 0
    click(window, node(window, "Trainer"))
    panel = window.runs.panel.checkpoints
    qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=30_000)
    files = {panel.table.item(r, 0).text() for r in range(panel.table.rowCount())}
    assert {"best_model.pt", "final_model.pt"} <= files
