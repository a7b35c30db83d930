"""The editor re-runs only what changed: an unchanged Trainer is reused from its checkpoint (no
retraining, no question about its folder), Run to Here stops at the selected node, and a checkpoint
that names code asks before running it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from nodeflow.gui import editing
from nodeflow.gui.badges import badge_of
from tests.gui.conftest import answer_modal, click, node, small_workflow
from tests.gui.test_running import RUN_TIMEOUT_MS, run_and_wait


def test_a_second_run_after_an_evaluate_edit_reuses_the_trained_model(qtbot: Any, make_window: Any,
                                                                       tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=1))
    assert run_and_wait(qtbot, window)[0] == 0, window.runs.panel.console.toPlainText()
    final = (tmp_path / "ck" / "final_model.pt").read_bytes()
    editing.set_params(window.graph, node(window, "Evaluate"), {"batch_size": 100})
    assert window.runs.will_run() == {"Evaluate"}
    code, _ = run_and_wait(qtbot, window)  # no folder question: the Trainer writes nothing this time
    assert code == 0, window.runs.panel.console.toPlainText()
    assert badge_of(node(window, "Trainer")) == "reused" and badge_of(node(window, "Evaluate")) == "done"
    assert (tmp_path / "ck" / "final_model.pt").read_bytes() == final
    assert "Trainer: reused" in window.runs.panel.console.toPlainText()
    assert window.runs.results.text_of("Evaluate").startswith("accuracy")


def test_run_to_here_runs_the_selected_node_and_what_it_needs(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(small_workflow(tmp_path, epochs=1))
    click(window, node(window, "Split"))
    with qtbot.waitSignal(window.runs.process.ended, timeout=RUN_TIMEOUT_MS) as ended:
        window.runs.run_to_selected()
    assert ended.args[0] == 0, window.runs.panel.console.toPlainText()
    assert badge_of(node(window, "Split")) == "done" and badge_of(node(window, "Trainer")) == "idle"
    assert not (tmp_path / "ck").exists()


def test_a_checkpoint_that_names_code_asks_first_and_runs_it_only_on_yes(qtbot: Any, make_window: Any,
                                                                         tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text("import pathlib\nfrom torch import nn\n"
                                     "pathlib.Path('ran.txt').write_text('the code ran')\n\n\n"
                                     "class Net(nn.Sequential):\n"
                                     "    def __init__(self):\n"
                                     "        super().__init__(nn.Flatten(), nn.Linear(64, 10))\n")
    path = small_workflow(tmp_path, epochs=1)
    doc = json.loads(path.read_text())
    doc["nodes"]["cnn"].update(type="model.python", params={"target": "net.py:Net"})
    path.write_text(json.dumps(doc))
    window = make_window(path)
    assert run_and_wait(qtbot, window)[0] == 0, window.runs.panel.console.toPlainText()
    (tmp_path / "ran.txt").unlink()
    editing.delete_selection(window.graph)
    for name in ("Trainer", "Evaluate"):  # inference only: the model comes back from the checkpoint
        node(window, name).set_selected(True)
    editing.delete_selection(window.graph)
    window.runs._use_for_inference(str(tmp_path / "ck" / "final_model.pt"))
    loader = next(n for n in window.graph.all_nodes() if n.name().startswith("LoadCheckpoint"))
    evaluate = editing.add_node(window.graph, window.registry.get("eval.evaluate"), (0, 600))
    evaluate.get_input("model").connect_to(loader.get_output("model"))
    evaluate.get_input("dataset").connect_to(node(window, "Split").get_output("test"))
    seen: list[str] = []

    def answer(text: str) -> Any:
        def act(box: QtWidgets.QMessageBox) -> None:
            seen.append(box.text())
            next(b for b in box.buttons() if b.text().replace("&", "") == text).click()
        return act

    with answer_modal(qtbot, answer("No"), timeout=RUN_TIMEOUT_MS):
        assert run_and_wait(qtbot, window)[0] == 2
    assert str(tmp_path / "net.py") in seen[0] and not (tmp_path / "ran.txt").exists()
    with answer_modal(qtbot, answer("Yes"), timeout=RUN_TIMEOUT_MS):
        run_and_wait(qtbot, window)
        qtbot.waitUntil(lambda: window.runs.process.running(), timeout=10000)
        qtbot.waitUntil(lambda: not window.runs.process.running(), timeout=RUN_TIMEOUT_MS)
    assert (tmp_path / "ran.txt").read_text() == "the code ran"
    assert badge_of(evaluate) == "done"
