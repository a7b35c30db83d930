"""A `--checkpoint-config` YAML file and a Trainer's checkpoint_dir template are untrusted input: a
hostile one gets one short error line (exit 2) at once, never minutes of work or gigabytes of memory."""
from __future__ import annotations

import copy
import json
import resource
from pathlib import Path

from tests.conftest import run_cli
from tests.reliability.test_fuzz_workflows import TINY, cli

LEVELS = "abcdefg"  # 9**7 strings once expanded: seconds and hundreds of MB to print


def alias_bomb(where: str) -> str:
    """Nested aliases that expand to millions of strings, used as the block's `dir` or in another section."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]" for a, b in zip(LEVELS, LEVELS[1:])]
    lines += ["checkpoint:", "  enabled: true", "  dir: *g" if where == "block" else '  dir: "./exp"']
    return "\n".join(lines) + "\n"


def workflow(folder: Path, checkpoint_dir: str = "ck") -> str:
    doc = copy.deepcopy(TINY)
    doc["nodes"]["trainer"]["params"]["checkpoint_dir"] = checkpoint_dir
    (folder / "w.json").write_text(json.dumps(doc))
    return "w.json"


def one_error(code: int, err: str) -> str:
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) < 400, err
    return lines[0]


def test_an_alias_bomb_in_the_checkpoint_block_is_refused_in_one_short_line(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(alias_bomb("block"))
    done = run_cli("run", workflow(tmp_path), "--checkpoint-config", "bomb.yaml", cwd=tmp_path, timeout=120)
    line = one_error(done.returncode, done.stderr)
    assert "bomb.yaml:10" in line and "checkpoint" in line and "aliases" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.yaml", "w.json"]  # nothing written


def test_aliases_in_other_sections_are_never_expanded_and_the_block_still_applies(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(alias_bomb("other"))
    assert cli("validate", workflow(tmp_path), cwd=tmp_path)[0] == 0  # imports done before measuring
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, out, err = cli("validate", workflow(tmp_path), "--checkpoint-config", "c.yaml", cwd=tmp_path)
    assert code == 0 and "OK" in out, err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # kB: nothing expanded


def test_a_yaml_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("checkpoint:\n  enabled: false\n" + "# padding\n" * 200_000)
    code, _, err = cli("validate", workflow(tmp_path), "--checkpoint-config", "big.yaml", cwd=tmp_path)
    assert "big.yaml: larger than 1024 KiB" in one_error(code, err)


def test_every_key_of_the_block_is_type_checked_with_file_line_and_key(tmp_path: Path) -> None:
    cases = {  # text after "checkpoint:\n" -> what the one line says
        "  dir: " + "[" * 5000 + "\n": "c.yaml:2: not valid YAML: nested more than 64 levels deep",
        "  save_frequency: " + "9" * 6000 + "\n": "c.yaml:2: field 'checkpoint.save_frequency': not a valid value",
        "  save_frequency: .inf\n": "field 'checkpoint.save_frequency': must be a whole number of epochs",
        "  save_frequency: 2.5\n": "field 'checkpoint.save_frequency': must be a whole number of epochs",
        "  resume: 2001-13-45\n": "c.yaml:2: field 'checkpoint.resume': not a valid value: month must be in 1..12",
        "  resume: [a, b]\n": "field 'checkpoint.resume': must be a string (got ['a', 'b'])",
        '  dir: "a\\x1b[2Jb"\n': "field 'checkpoint.dir': must not hold control characters (got 'a\\x1b[2Jb')",
        "  dir: " + "d" * 5000 + "\n": "field 'checkpoint.dir': longer than 4096 characters",
        "  dir: a\n  dir: b\n": "c.yaml:3: field 'checkpoint.dir': given twice",
        "  1: a\n": "c.yaml:2: keys must be plain names",
        "  <<: {dir: a}\n": "c.yaml:2: keys must be plain names",
        "  save_best: !!binary aGk=\n": "field 'checkpoint.save_best': must be true or false (got b'hi')",
        "  enabled: !custom x\n": "c.yaml:2: not valid YAML: object tags (!!python/...) are not allowed",
        "  dir: " + "x" * 300_000 + "\n": "field 'checkpoint.dir': longer than 4096 characters",
    }
    for text, expected in cases.items():
        (tmp_path / "c.yaml").write_text("checkpoint:\n" + text)
        code, _, err = cli("validate", workflow(tmp_path), "--checkpoint-config", "c.yaml", cwd=tmp_path)
        assert expected in one_error(code, err), (text[:60], err[:500])


def test_checkpoint_dir_placeholders_take_only_a_bare_known_name(tmp_path: Path) -> None:
    refused = {"{model:>1500000000}": "a placeholder is a bare name, no format, attribute or index: write {model}",
               "ck/{model.__class__.__mro__}": "no format, attribute or index: write {model}",
               "{dataset[0]}": "write {dataset}", "{run!r}": "write {run}", "{0}": "unknown placeholder",
               "{}": "unknown placeholder", "{nope}": "unknown placeholder", "ck/{model": "unbalanced braces"}
    for template, expected in refused.items():
        code, _, err = cli("validate", workflow(tmp_path, template), cwd=tmp_path)
        line = one_error(code, err)
        assert "node 'Trainer' field 'checkpoint_dir'" in line and expected in line, (template, line)
    for template in ("ck/{model}_{dataset}_{timestamp}/{run}", "ck/{{literal}}"):
        code, _, err = cli("validate", workflow(tmp_path, template), cwd=tmp_path)
        assert code == 0, (template, err)


def test_placeholders_are_filled_by_plain_substitution(tmp_path: Path) -> None:
    code, _, err = cli("run", workflow(tmp_path, "ck/{{x}}_{model}_{dataset}"), cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "ck" / "{x}_mlp_synthetic" / "final_model.pt").is_file()
