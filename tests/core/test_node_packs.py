"""Third-party node packs register through the `nodeflow.nodes` entry-point group."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACK = '''
from nodeflow.core import NodeSpec, ParamSpec, PortSpec

def run(ctx, inputs, params):
    return {}

NODES = [NodeSpec("pack.shout", "Shout", "Community", run, description="A node from a pack.",
                  params=(ParamSpec("volume", "int", 11, "How loud", min=0, max=11),))]
'''


def test_an_installed_pack_shows_up_in_the_nodes_listing(tmp_path: Path) -> None:
    (tmp_path / "shout_pack.py").write_text(PACK)
    info = tmp_path / "shout_pack-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-pack\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nodeflow.nodes]\nshout = shout_pack\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "nodes"], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert "pack.shout  Shout  [Community, v1]" in out
    assert "- volume (int, default 11)  [0 … 11]: How loud" in out
    assert "train.trainer  Trainer" in out
