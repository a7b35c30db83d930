"""Words a user reads name layouts and APIs by what they are, never by our internal reference
documents' numbers ("seed 003's layout"); "seed" is left to mean the random seed."""
from __future__ import annotations

import re

from nodeflow.cli import build_parser
from nodeflow.core import default_registry
from tests.conftest import ROOT

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
