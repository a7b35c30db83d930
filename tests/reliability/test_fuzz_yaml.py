"""Fuzzed `--checkpoint-config` YAML files: random bytes, truncated and spliced blocks, wrong types per key,
alias bombs, huge values, deep nesting. Each is a valid block (exit 0) or short `error:` lines (exit 2):
never a traceback, nothing written, memory bounded."""
from __future__ import annotations

import os
import resource
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.reliability.test_fuzz_workflows import RANDOM, assert_clean, cli, tree
from tests.reliability.test_yaml_and_templates import workflow

VALID = ('checkpoint:\n  enabled: true\n  dir: "./experiments"\n  experiment_name: "exp1"\n  save_frequency: 2\n'
         '  save_best: false\n  resume: ""\n')
KEYS = ("enabled", "dir", "experiment_name", "save_frequency", "save_best", "resume", "dirr", "1", "<<", "? [a]")
VALUES = ("true", "no", "~", "0", "-3", "2.5", ".inf", ".nan", "0x1f", "1:30", "2001-13-45", "2001-12-14",
          "[a, b]", "{a: 1}", '"a\\x1b[2Jb"', '"\\0"', "!!binary aGk=", "!!python/name:os.system", "!custom x",
          "!!str 5", "'../..'", "a/b", "..", "''", "' '", "*nope", "&x 1", "|\n    multi\n    line", ">-\n    folded",
          "9" * 5000, "x" * 5000, "[" * 200, "{a: " * 100, "'unterminated", '"\\u0000"', "\t", "- a\n    - b")


def bomb(depth: int, inside: bool, width: int = 9, key: str = "dir") -> str:
    """Nested aliases: width**depth strings once expanded, used in the block (`key`) or in another section."""
    names = [f"l{i}" for i in range(depth)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['lol'] * width)}]"]
    lines += [f"{b}: &{b} [{', '.join([f'*{a}'] * width)}]" for a, b in zip(names, names[1:])]
    lines += ["checkpoint:", "  enabled: true", f"  {key}: *{names[-1]}" if inside else '  dir: "./exp"']
    return "\n".join(lines) + "\n"


@st.composite
def alias_bombs(draw: Any) -> str:
    return bomb(draw(st.integers(2, 9)), draw(st.booleans()), draw(st.integers(2, 12)), draw(st.sampled_from(KEYS[:6])))


@st.composite
def wrong_types(draw: Any) -> str:
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(1, len(lines) - 1))
        lines[index] = f"  {draw(st.sampled_from(KEYS))}: {draw(st.sampled_from(VALUES))}"
    return "\n".join(lines) + "\n"


@st.composite
def truncated(draw: Any) -> str:
    return VALID[:draw(st.integers(0, len(VALID)))]


@st.composite
def spliced(draw: Any) -> str:
    at = draw(st.integers(0, len(VALID)))
    return VALID[:at] + draw(st.text(max_size=12)) + VALID[at + draw(st.integers(0, 5)):]


@st.composite
def huge(draw: Any) -> str:
    size = draw(st.sampled_from([10_000, 200_000, 1_100_000]))
    key = draw(st.sampled_from(KEYS[:6]))
    body = draw(st.sampled_from(["x" * size, "9" * size, "[" * size, "- " * (size // 2), "# " + "c" * size]))
    return f"checkpoint:\n  {key}: {body}\n"


FILES = st.one_of(st.binary(max_size=300), truncated(), spliced(), wrong_types(), alias_bombs(), huge(),
                  st.text(max_size=200))


@settings(max_examples=240, deadline=None, derandomize=not RANDOM,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(content=FILES)
def test_any_checkpoint_yaml_is_a_valid_block_or_short_error_lines(content: str | bytes) -> None:
    repo_before = set(os.listdir(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        name = workflow(folder)
        data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
        (folder / "c.yaml").write_bytes(data)
        before = tree(folder)
        code, out, err = cli("validate", name, "--checkpoint-config", "c.yaml", cwd=folder)
        assert_clean(code, err)
        event(f"exit {code}")
        assert all(len(line) < 1500 for line in err.splitlines()), max(map(len, err.splitlines()))
        assert len(err.splitlines()) <= 7, err  # at most one line per key of the block
        if code == 0:
            assert "OK" in out
        assert tree(folder) == before  # validate writes nothing
    assert set(os.listdir(ROOT)) == repo_before


def test_the_yaml_fuzz_stays_within_bounded_memory() -> None:
    """The largest files of each kind above add little to this process's peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        name = workflow(folder)
        assert cli("validate", name, cwd=folder)[0] == 0  # imports done before measuring
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for text in (bomb(9, True), bomb(9, False), "checkpoint:\n  dir: " + "[" * 1_000_000,
                     "checkpoint:\n  dir: " + "- " * 500_000, "checkpoint:\n  dir: " + "x" * 2_000_000):
            (folder / "c.yaml").write_text(text)
            code, _, err = cli("validate", name, "--checkpoint-config", "c.yaml", cwd=folder)
            assert_clean(code, err)
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 100_000  # kB
