"""Words a user reads name layouts and APIs by what they are, never by our internal reference
documents' numbers ("seed 003's layout"); "seed" is left to mean the random seed. What a run
prints is free of Python's own words ("None", "dict of"), and the docs describe the product."""
from __future__ import annotations

import re

from nodeflow.cli import build_parser
from nodeflow.core import default_registry
from nodeflow.core.reference import text_listing
from tests.conftest import ROOT, run_cli

# a reference document by number or by that name; the random seed ("--seed 0", "seed=0") stays
INTERNAL = re.compile(r"seed[ _-]?0\d\d|seed[ -]style|seed documents?|the seed's (?!value)|\bseeds/", re.I)


def found(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if INTERNAL.search(line)]


def test_readme_docs_and_code_never_name_our_reference_documents() -> None:
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "nodeflow").rglob("*.py"),
             *(ROOT / "nodes").rglob("*.py"), ROOT / "main.py"]
    hits = {str(f.relative_to(ROOT)): lines for f in files if (lines := found(f.read_text(encoding="utf-8")))}
    assert hits == {}


def test_cli_help_and_the_editors_node_texts_never_name_them() -> None:
    parser = build_parser()
    helps = [parser.format_help()]
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for command in subparsers.choices.values():
        helps.append(command.format_help())
        nested = [a for a in command._actions if a.dest and a.choices and hasattr(a, "_name_parser_map")]
        helps += [p.format_help() for a in nested for p in a.choices.values()]
    assert found("\n".join(helps)) == []
    texts = []
    for spec in default_registry().all():
        texts += [spec.title, spec.description, *(p.help for p in spec.params),
                  *(p.title for p in spec.params),
                  *(port.help for port in (*spec.inputs, *spec.outputs))]
    assert len(texts) > 100 and found("\n".join(texts)) == []


# what a run prints: Python's own words for empty or missing values, and plurals left unmade
RUN_TIME = re.compile(r"\bNone\b|\bdict of\b|\bof nothing\b|mean nothing|\b1 epochs\b|\d(?:\.\d+)?e\+\d\d|"
                      r"\[ \|")
# docs about the product, not about how or by whom it was built; links stay inside the repository
BUILD_TALK = re.compile(r"\blent\b|\bissue \d+|\bthe session\b|\bdevice. tool|\bin this work\b|\.\./shared/", re.I)


def test_a_dry_run_prints_no_internal_words(tmp_path) -> None:
    done = run_cli("run", str(ROOT / "workflows" / "digits_cnn.json"), "--set", "Trainer.epochs=1", "--dry-run",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (done.stdout + done.stderr).splitlines()
    assert [line for line in lines if RUN_TIME.search(line)] == []
    # the lines that held such words are still there, saying what they are
    assert "  Trainer.history: empty" in lines
    assert any(line.startswith("  Evaluate.metrics: loss, samples, accuracy") for line in lines)
    assert any(line.endswith(" for 1 epoch") for line in lines)
    assert any("scored one batch" in line and "not a result" in line for line in lines)


def test_the_node_listing_writes_numbers_and_choices_plainly() -> None:
    listing = text_listing(default_registry())
    assert [line for line in listing.splitlines() if RUN_TIME.search(line)] == []
    assert "[0 … 2,147,483,647]" in listing and '["" | auto | best]' in listing


def test_readme_docs_and_pyproject_describe_the_product_and_stand_alone() -> None:
    files = [ROOT / "README.md", ROOT / "pyproject.toml", *(ROOT / "docs").glob("*.md")]
    hits = {str(f.relative_to(ROOT)): [line.strip() for line in f.read_text(encoding="utf-8").splitlines()
                                       if BUILD_TALK.search(line)] for f in files}
    assert {name: lines for name, lines in hits.items() if lines} == {}
    assert (ROOT / "docs" / "nodegraphqt.md").is_file()  # what pyproject.toml's editor pins point to


def test_a_checkpoint_without_step_or_best_epoch_shows_no_none(tmp_path, capsys) -> None:
    import torch

    from nodeflow.cli import main

    data = torch.load(ROOT / "tests" / "fixtures" / "old_checkpoints" / "nodeflow" / "final_model.pt")
    for key in ("step", "best_epoch", "loss"):
        data.pop(key, None)
    torch.save({**data, "monitor": "val_loss", "best": 0.25}, tmp_path / "bare.pt")
    assert main(["ckpt", "show", str(tmp_path / "bare.pt")]) == 0
    shown = capsys.readouterr().out
    assert "None" not in shown and "step: -" in shown and "best: 0.2500\n" in shown, shown
