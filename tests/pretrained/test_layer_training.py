"""A Check's per-layer table says what trains in each layer: a LoRA adapter's base is frozen and its
adapted attention partly trainable; with freeze=all-but-head only the head trains. The CLI prints
the column, the editor's Properties panel shows it for the model node once selected."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtTest, QtWidgets

from tests.conftest import WORKFLOWS
from tests.gui.conftest import LEFT, click, make_window, node  # noqa: F401 (make_window: a fixture)
from tests.pretrained.runs import SHIPPED
from tests.pretrained.workflows import pretrained_workflow
from tests.reliability.test_fuzz_workflows import cli


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The console's layer table: layer name -> the rest of its row, split on runs of spaces."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["layer"] and "training" in line)
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1:]:
        if not line.startswith("    ") or line.startswith("     "):
            break
        cells = [c.strip() for c in line.strip().split("  ") if c.strip()]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_lora_example_checks_with_a_frozen_base_and_trainable_adapters(tmp_path: Path) -> None:
    code, out, err = cli("run", str(WORKFLOWS / "finetune_gpt2_lora.json"), "--dry-run", cwd=tmp_path)
    assert code == 0, err
    rows = table_rows(out)
    assert rows["transformer.wte"][-1] == "frozen" and rows["lm_head"][-1] == "frozen"
    assert rows["transformer.h.0.mlp"][-1] == "frozen"  # LoRA on c_attn only
    attention = rows["transformer.h.0.attn"][-1]  # the adapter on c_attn: rank 8 × (128 in + 384 out)
    assert attention == "partly (4,096 trainable)", attention
    assert rows["transformer.h.1"][-1] == "partly (4,096 trainable)"  # each block of the stack has its row
    assert not (tmp_path / "checkpoints").exists()


def test_all_but_head_bert_shows_the_head_trainable_and_the_encoder_frozen(tmp_path: Path) -> None:
    path = pretrained_workflow(tmp_path, str(SHIPPED / "tiny_bert"), "sequence-classification",
                               freeze="all-but-head")
    code, out, err = cli("run", str(path), "--dry-run", cwd=tmp_path)
    assert code == 0, err
    rows = table_rows(out)
    assert rows["classifier"][-1] == "trainable"
    assert rows["bert.encoder.layer.0"][-1] == "frozen" and rows["bert.embeddings"][-1] == "frozen"
    assert rows["bert"][-1] == "frozen"
    assert rows["dropout"][-1] == "0"  # no parameters: nothing to say


def test_properties_show_what_trains_after_a_check(qtbot: Any, make_window: Any,  # noqa: F811
                                                   tmp_path: Path) -> None:
    path = pretrained_workflow(tmp_path, str(SHIPPED / "tiny_bert"), "sequence-classification",
                               freeze="all-but-head")
    window = make_window(path)
    panel = window.runs.panel
    with qtbot.waitSignal(window.runs.process.ended, timeout=120_000) as ended:
        QtTest.QTest.mouseClick(panel.check_button, LEFT)
    assert ended.args[0] == 0, panel.console.toPlainText()
    click(window, node(window, "Pretrained"))
    qtbot.waitUntil(lambda: window.properties.findChild(QtWidgets.QTableWidget, "layer_table") is not None)
    table = window.properties.findChild(QtWidgets.QTableWidget, "layer_table")
    header = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
    assert header[-1] == "training"
    shown = {table.item(i, 0).text(): table.item(i, header.index("training")).text() for i in range(table.rowCount())}
    assert shown["classifier"] == "trainable" and shown["bert.encoder.layer.1"] == "frozen"
    assert table.item(0, 0).text() == "bert"  # a module before its parts
