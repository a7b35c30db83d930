"""The Trainer dialog: the seeds' flow (double-click, set checkpoint dir and period, OK), validation, undo."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtTest, QtWidgets

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
    assert window.properties.findChild(QtWidgets.QSpinBox, "value_epochs").text() == "20"
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
        assert labels[:2] == ["Checkpoint directory", "Save every N epochs"]
        assert not dialog.field("resume").isVisible()
        dialog.field("resume").setCurrentText("no/such/file.pt")  # a problem in a closed section opens it
        assert dialog.section("Resume").isChecked() and dialog.field("resume").isVisible()
        assert "checkpoint not found" in dialog.findChild(QtWidgets.QLabel, "resume_error").text()
        dialog.reject()

    with answer_modal(qtbot, look):
        double_click(window, node(window, "Trainer"))


def type_into(dialog: QtWidgets.QWidget, name: str, text: str) -> QtWidgets.QWidget:
    """Select the field's text and type over it, key by key, as a user would."""
    field = dialog.field(name)
    field.setFocus()
    field.selectAll()
    QtTest.QTest.keyClicks(field, text)
    return field


def error_of(dialog: QtWidgets.QWidget, name: str) -> QtWidgets.QLabel:
    return dialog.findChild(QtWidgets.QLabel, f"{name}_error")


def test_labels_are_in_one_style_sentence_case_with_acronyms_kept(qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    seen: dict[str, str] = {}

    def look(dialog: QtWidgets.QWidget) -> None:
        for field in dialog.fields.values():
            form = field.widget.parentWidget().layout()
            label = form.labelForField(field.widget)
            seen[field.spec.name] = label.text()
        dialog.reject()

    with answer_modal(qtbot, look):
        double_click(window, node(window, "Trainer"))
    assert seen["checkpoint_dir"] == "Checkpoint directory"
    assert (seen["save_every_n_epochs"], seen["save_every_n_iters"]) == ("Save every N epochs", "Save every N iters")
    assert (seen["lr"], seen["min_lr"], seen["scheduler"], seen["stop_on_nan"]) == (
        "Learning rate", "Min LR", "LR scheduler", "Stop on NaN")
    for name, text in seen.items():  # after the first word: lower case, or an acronym in capitals
        assert all(w.islower() or w.isupper() or w == "NaN" or w[0].isdigit() for w in text.split()[1:]), (name, text)


def test_a_typed_number_out_of_range_is_shown_with_its_reason_and_keeps_ok_disabled(
        qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    seen: dict[str, Any] = {}

    def act(dialog: QtWidgets.QWidget) -> None:
        epochs = type_into(dialog, "epochs", "-5")
        seen["negative"] = (epochs.text(), ok_button(dialog).isEnabled(), error_of(dialog, "epochs").text())
        type_into(dialog, "save_every_n_epochs", "999999")
        seen["above"] = (ok_button(dialog).isEnabled(), error_of(dialog, "save_every_n_epochs").text())
        type_into(dialog, "save_every_n_epochs", "2")
        type_into(dialog, "epochs", "1")
        QtTest.QTest.keyClick(epochs, QtCore.Qt.Key.Key_Down)  # the arrows stay within the bounds
        seen["fixed"] = (epochs.text(), ok_button(dialog).isEnabled(), error_of(dialog, "epochs").isVisible())
        ok_button(dialog).click()

    with answer_modal(qtbot, act):
        double_click(window, node(window, "Trainer"))
    assert seen["negative"][:2] == ("-5", False) and "at least 1" in seen["negative"][2]
    assert seen["above"][0] is False and "100000" in seen["above"][1]
    assert seen["fixed"] == ("1", True, False)
    assert (params_of(node(window, "Trainer"))["epochs"], params_of(node(window, "Trainer"))["save_every_n_epochs"]) \
        == (1, 2)


def test_a_fields_error_spans_the_dialog_width_instead_of_a_narrow_column(qtbot: Any, make_window: Any) -> None:
    window = make_window(WORKFLOWS / "digits_cnn.json")
    seen: dict[str, Any] = {}

    def act(dialog: QtWidgets.QWidget) -> None:
        field = type_into(dialog, "checkpoint_dir", "runs/{nonsense}")
        error = error_of(dialog, "checkpoint_dir")
        QtWidgets.QApplication.processEvents()  # the layout places the error that just appeared
        form = error.parentWidget().layout()
        label = form.labelForField(dialog.fields["checkpoint_dir"].widget)
        seen["text"] = error.text()
        seen["left"] = (error.geometry().left(), label.geometry().left())
        seen["width"] = (error.width(), dialog.fields["checkpoint_dir"].widget.geometry().right() - label.x())
        seen["lines"] = error.height() // error.fontMetrics().lineSpacing()
        field.setText("runs/ok")
        dialog.reject()

    with answer_modal(qtbot, act):
        double_click(window, node(window, "Trainer"))
    assert "unknown placeholder" in seen["text"]
    assert seen["left"][0] <= seen["left"][1]  # starts under the label, not under the field
    assert seen["width"][0] >= seen["width"][1] - 4 and seen["lines"] == 1, seen


def test_a_trainer_added_from_the_palette_saves_into_a_folder_of_its_own_per_run(
        qtbot: Any, make_window: Any) -> None:
    window = make_window()
    QtTest.QTest.keyClicks(window.palette.search, "trainer")
    QtTest.QTest.keyClick(window.palette.search, QtCore.Qt.Key.Key_Return)
    folder = params_of(node(window, "Trainer"))["checkpoint_dir"]
    assert folder != "checkpoints" and folder.startswith("checkpoints/") and folder.endswith("{run}")
    assert "{model}" in folder and "{dataset}" in folder  # other models or data: other folders
