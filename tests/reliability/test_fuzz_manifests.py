"""Fuzzed manifest.json files: a wrong type at any entry or run field, truncations, random bytes,
deep nesting. Every command that reads the manifest exits 0, 1 (verify's bad file) or with one
`error:` line naming the field (exit 2); a refused manifest changes no file."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from nodeflow.checkpoints.manifest_fields import ENTRY, RUN
from tests.reliability.test_fuzz_checkpoints import assert_clean, cli, trained, tree  # noqa: F401 (fixture)

WRONG = ["seven", -1, 10**30, 2.5, None, [1], {"a": 1}, True]


def manifests(real: dict) -> list[tuple[str, str]]:
    """(name, text) of each malformed manifest."""
    rng = random.Random(0)
    name = "final_model.pt"
    found = []
    for field in ENTRY:
        for n, value in enumerate(WRONG):
            doc = json.loads(json.dumps(real))
            doc["checkpoints"][name][field] = value
            found.append((f"entry_{field}_{n}", json.dumps(doc)))
    for field in RUN:
        for n, value in enumerate(WRONG[:4]):
            doc = json.loads(json.dumps(real))
            doc["run"][field] = value
            found.append((f"run_{field}_{n}", json.dumps(doc)))
    text = json.dumps(real)
    for n, cut in enumerate(rng.sample(range(len(text)), 12)):
        found.append((f"truncated_{n}", text[:cut]))
    for n, other in enumerate([[], 5, "x", {"a": 1}]):
        found.append((f"checkpoints_{n}", json.dumps({**real, "checkpoints": other})))
        found.append((f"whole_entry_{n}", json.dumps({**real, "checkpoints": {name: other}})))
        found.append((f"run_{n}", json.dumps({**real, "run": other})))
    found.append(("nested", '{"format": "nodeflow.checkpoints", "checkpoints": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    found.append(("random", rng.randbytes(3000).decode("latin-1")))
    return found


def test_malformed_manifests_are_one_line_through_every_reader(tmp_path: Path, trained: Path) -> None:  # noqa: F811
    real = json.loads((trained / "ck" / "manifest.json").read_text())
    cases = manifests(real)
    assert len(cases) >= 200
    refused = 0
    for name, text in cases:
        folder = tmp_path / name
        shutil.copytree(trained / "ck", folder)
        (folder / "manifest.json").write_text(text, encoding="latin-1")
        for args in (("ckpt", "list", name), ("ckpt", "list", "--json", name), ("ckpt", "verify", name),
                     ("ckpt", "summary", name), ("ckpt", "summary", "--json", name),
                     ("ckpt", "show", f"{name}/final_model.pt"), ("ckpt", "scan", name),
                     ("ckpt", "prune", name, "--keep", "0"), ("ckpt", "tag", f"{name}/best_model.pt", "--add", "x")):
            before = tree(folder)
            code, _, err = cli(*args, cwd=tmp_path)
            assert_clean(name, args, code, err, (0, 1, 2))
            if code == 2 and args[1] in ("prune", "tag"):
                assert tree(folder) == before, f"{name}: a refused {args[1]} changed the folder"
            refused += code == 2 and args[1] == "list"
            if code == 2 and name.startswith("entry_") and args[1] == "list":
                assert f"field 'checkpoints.final_model.pt.{name.split('_', 1)[1].rsplit('_', 1)[0]}'" in err, err
        shutil.rmtree(folder)
    assert refused >= len(ENTRY) * 5  # every wrong type at every entry field, bar the ones a field allows
