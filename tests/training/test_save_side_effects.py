"""Our checkpoint saves leave the rest of the process alone: a user's own torch.save, on another
thread or after our save on the same thread, writes a normal zip with its CRC-32s; importing
nodeflow or using the API tunes no allocator."""
from __future__ import annotations

import io
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import torch

from nodeflow.checkpoints.torch_files import atomic_save
from tests.conftest import ROOT, WORKFLOWS

WINE = WORKFLOWS / "wine_mlp.json"


def crc_problem(blob: bytes) -> str | None:
    """The first record whose CRC-32 is missing or wrong (zipfile checks each), or None."""
    archive = zipfile.ZipFile(io.BytesIO(blob))
    missing = [info.filename for info in archive.infolist() if info.file_size and info.CRC == 0]
    return missing[0] if missing else archive.testzip()


def test_a_users_torch_save_on_another_thread_keeps_its_crcs(tmp_path: Path) -> None:
    state = {"w": torch.randn(256, 256), "b": torch.randn(256)}
    stop, problems, saves = threading.Event(), [], [0]

    def users_loop() -> None:  # the user's own checkpointing, running beside ours
        while not stop.is_set():
            buffer = io.BytesIO()
            torch.save(state, buffer)
            saves[0] += 1
            if problem := crc_problem(buffer.getvalue()):
                problems.append(problem)

    user = threading.Thread(target=users_loop)
    user.start()
    try:
        for n in range(40):
            atomic_save(state, tmp_path / f"ours_{n % 2}.pt")
    finally:
        stop.set()
        user.join()
    assert saves[0] > 0 and not problems
    # ours leave the CRCs out (the manifest's SHA-256 covers the file); torch.load reads them as ever
    assert crc_problem((tmp_path / "ours_0.pt").read_bytes()) is not None
    assert torch.equal(torch.load(tmp_path / "ours_0.pt")["w"], state["w"])


def test_the_saving_thread_gets_its_crc_setting_back(tmp_path: Path) -> None:
    atomic_save({"w": torch.ones(8)}, tmp_path / "ours.pt")
    assert torch.serialization.get_crc32_options()
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(8)}, buffer)  # the user's save right after ours, same thread
    assert crc_problem(buffer.getvalue()) is None


# a 64 MiB block: glibc maps it on its own (mmap) unless the heap is told to keep such blocks
MMAP_PROBE = """
import ctypes, sys
sys.path.insert(0, sys.argv[1])
import nodeflow
from nodeflow import cli
if sys.argv[3] == "api":
    wf = nodeflow.load(sys.argv[2])
    wf["Trainer"].params.update(epochs=1, checkpoint_dir="")
    wf.run(until="Trainer", progress=False)
else:
    cli.main(["run", sys.argv[2], "--until", "Trainer", "--set", "Trainer.epochs=1",
              "--set", "Trainer.checkpoint_dir="])
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Info
before = mallinfo2().hblks
block = bytearray(64 << 20)
print("MAPPED", mallinfo2().hblks - before)
"""


def test_only_the_command_line_tunes_the_allocator(tmp_path: Path) -> None:
    children = {how: subprocess.Popen([sys.executable, "-c", MMAP_PROBE, str(ROOT), str(WINE), how], cwd=tmp_path,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for how in ("api", "cli")}
    mapped = {}
    for how, child in children.items():
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        mapped[how] = out.split("MAPPED ")[-1].strip()
    # a library user's run leaves glibc's defaults; `nodeflow run` keeps a batch's large blocks in the heap
    assert mapped == {"api": "1", "cli": "0"}
