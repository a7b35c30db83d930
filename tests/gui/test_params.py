"""The Trainer dialog: the seeds' flow (double-click, set checkpoint dir and period, OK), validation, undo."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from nodeflow.gui.graph import params_of
from tests.conftest import WORKFLOWS
from tests.gui.conftest import answer_modal, click, double_click, node, small_workflow


def set_text(dialog: QtWidgets.QWidget, name: str, text: str) -> None:
    field = dialog.findChild(QtWidgets.QWidget, name)
    assert field is not None, f"no field named {name}"
    if isinstance(field, QtWidgets.QSpinBox):
        field.setValue(int(text))
    else:
        field.setText(text)


def ok_button(dialog: QtWidgets.QWidget) -> QtWidgets.QPushButton:
    return dialog.findChild(QtWidgets.QPushButton, "ok")


def test_trainer_dialog_sets_checkpoint_dir_and_period_kept_after_save_and_reopen(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    path = small_workflow(tmp_path)
    window = make_window(path)

    def fill(dialog: QtWidgets.QWidget) -> None:
        assert dialog.objectName() == "param_dialog"
        set_text(dialog, "checkpoint_dir", "runs/my_experiment")
        set_text(dialog, "save_every_n_epochs", "2")
        assert ok_button(dialog).isEnabled()
        ok_button(dialog).click()

    with answer_modal(qtbot, fill):
        double_click(window, node(window, "Trainer"))
    params = params_of(node(window, "Trainer"))
    assert (params["checkpoint_dir"], params["save_every_n_epochs"]) == ("runs/my_experiment", 2)
    assert window.isWindowModified() and window.windowTitle().startswith("small.json")
    assert window.save() and not window.isWindowModified()
    reopened = make_window(path)
    params = params_of(node(reopened, "Trainer"))
    assert (params["checkpoint_dir"], params["save_every_n_epochs"]) == ("runs/my_experiment", 2)


def test_every_param_has_a_field_named_after_it_with_help_and_path_params_browse(qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "wine_mlp.json")
    for name in ("Trainer", "Wine", "Predict"):
        target = node(window, name)

        def look(dialog: QtWidgets.QWidget, target: Any = target) -> None:
            for param in target.spec.params:
                field = dialog.findChild(QtWidgets.QWidget, param.name)
                assert field is not None and field.toolTip() == param.help, param.name
                has_browse = dialog.findChild(QtWidgets.QPushButton, f"{param.name}_browse") is not None
                assert has_browse == (param.type in ("file", "dir", "outdir", "outfile")), param.name
            dialog.findChild(QtWidgets.QPushButton, "cancel").click()

        with answer_modal(qtbot, look):
            window.edit_node(target)


def test_an_invalid_value_keeps_ok_disabled_and_says_why_and_cancel_changes_nothing(
        qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    before = params_of(node(window, "Trainer"))
    seen: dict[str, Any] = {}

    def act(dialog: QtWidgets.QWidget) -> None:
        set_text(dialog, "lr", "fast")
        seen["bad"] = (ok_button(dialog).isEnabled(), dialog.findChild(QtWidgets.QLabel, "lr_error").text())
        set_text(dialog, "lr", "0.01")
        set_text(dialog, "checkpoint_dir", "run {nonsense}")
        seen["placeholder"] = (ok_button(dialog).isEnabled(),
                               dialog.findChild(QtWidgets.QLabel, "checkpoint_dir_error").text())
        set_text(dialog, "checkpoint_dir", "ok_dir")
        set_text(dialog, "name", "Evaluate")
        seen["name"] = ok_button(dialog).isEnabled()
        set_text(dialog, "name", "Trainer")
        seen["fixed"] = ok_button(dialog).isEnabled()
        dialog.findChild(QtWidgets.QPushButton, "cancel").click()

    with answer_modal(qtbot, act):
        window.edit_node(node(window, "Trainer"))
    assert seen["bad"][0] is False and "fast" in seen["bad"][1]
    assert seen["placeholder"][0] is False and "placeholder" in seen["placeholder"][1]
    assert seen["name"] is False and seen["fixed"] is True
    assert params_of(node(window, "Trainer")) == before
    assert not window.isWindowModified()


def test_undo_restores_a_changed_parameter_and_redo_applies_it_again(qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    trainer = node(window, "Trainer")
    click(window, trainer)

    def act(dialog: QtWidgets.QWidget) -> None:
        set_text(dialog, "epochs", "7")
        set_text(dialog, "lr", "0.005")
        ok_button(dialog).click()

    with answer_modal(qtbot, act):
        window.edit_node(trainer)
    assert (params_of(trainer)["epochs"], params_of(trainer)["lr"]) == (7, 0.005)
    window.undo.undo()  # one dialog = one undo step
    assert (params_of(trainer)["epochs"], params_of(trainer)["lr"]) == (20, 0.001)
    assert not window.isWindowModified()
    assert window.properties.findChild(QtWidgets.QLabel, "value_epochs").text() == "20"
    window.undo.redo()
    assert params_of(trainer)["epochs"] == 7 and window.isWindowModified()


def test_the_trainer_dialog_comes_in_sections_with_the_seed_fields_first_under_checkpoints(
        qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")

    def look(dialog: QtWidgets.QWidget) -> None:
        headers = [b for b in dialog.findChildren(QtWidgets.QToolButton) if b.objectName().startswith("section_")]
        assert [b.text() for b in headers] == ["Training", "Optimizer", "Schedule", "Device", "Checkpoints",
                                               "Best model", "Resume"]
        assert [b.text() for b in headers if not b.isChecked()] == ["Schedule", "Device", "Best model", "Resume"]
        checkpoints = dialog.section("Checkpoints").parent().layout()
        body = checkpoints.itemAt(checkpoints.indexOf(dialog.section("Checkpoints")) + 1).widget()
        labels = [w.text() for w in body.findChildren(QtWidgets.QLabel) if w.text()]
        assert labels[:2] == ["Checkpoint Directory", "Save Every N Epochs"]
        assert not dialog.field("resume").isVisible()
        dialog.field("resume").setCurrentText("no/such/file.pt")  # a problem in a closed section opens it
        assert dialog.section("Resume").isChecked() and dialog.field("resume").isVisible()
        assert "checkpoint not found" in dialog.findChild(QtWidgets.QLabel, "resume_error").text()
        dialog.reject()

    with answer_modal(qtbot, look):
        double_click(window, node(window, "Trainer"))
