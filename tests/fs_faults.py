"""Run a NodeFlow command in a folder that turns read-only partway, without mounts or user namespaces.

    python -m tests.fs_faults FOLDER TRIGGER main.py run workflow.json ...
    python -m tests.fs_faults FOLDER TRIGGER -c "python code"

(with the repository on PYTHONPATH).
Once the file TRIGGER exists, everything that would create, write, rename or remove
something inside FOLDER fails as on a read-only mount: OSError(EROFS, "Read-only file
system", path), raised by the lowest functions Python writes through (os.open, os.mkdir,
os.replace, os.rename, os.unlink, os.link, open/io.open for writing). Reads go on as before;
a write already open keeps going, as it would on a remount. The command is the real CLI
or API in this real process: only the operating system's answer is replaced.
"""
from __future__ import annotations

import builtins
import errno
import io
import os
import runpy
import sys
from collections.abc import Callable
from typing import Any

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def read_only_after(folder: str, trigger: str) -> None:
    """Make FOLDER read-only for this process from the moment TRIGGER exists."""
    root = os.path.abspath(folder)

    def hit(path: Any) -> bool:
        if isinstance(path, int) or not isinstance(path, (str, bytes, os.PathLike)):
            return False  # a descriptor: already open
        full = os.path.abspath(os.fsdecode(path))
        return (full == root or full.startswith(root + os.sep)) and os.path.exists(trigger)

    def refuse(path: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    def guard(real: Callable[..., Any], paths: int) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            for path in args[:paths]:
                if hit(path):
                    refuse(path)
            return real(*args, **kwargs)
        return guarded

    real_open, real_file = os.open, builtins.open

    def os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & WRITE_FLAGS and hit(path):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def file_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(c in mode for c in "wax+") and hit(file):
            refuse(file)
        return real_file(file, mode, *args, **kwargs)

    os.open = os_open
    builtins.open = io.open = file_open
    for name, paths in (("mkdir", 1), ("unlink", 1), ("remove", 1), ("rmdir", 1), ("replace", 2), ("rename", 2),
                        ("link", 2), ("symlink", 2)):
        setattr(os, name, guard(getattr(os, name), paths))


def main(argv: list[str]) -> None:
    folder, trigger, *command = argv
    read_only_after(folder, trigger)
    if command[0] == "-c":
        sys.argv = ["-c", *command[2:]]
        exec(compile(command[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = command
        runpy.run_path(command[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
