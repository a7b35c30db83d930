"""Durable atomic file writes, the one protocol every file we write goes through."""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: Path, write: Callable[[BinaryIO], None], digest: bool = False) -> str | None:
    """Call `write(handle)` on a temp file in `path`'s folder, fsync, rename over `path`, fsync the folder.

    A crash at any moment leaves either the old file or the new one under `path`, never
    a partial file. On failure (disk full, ...) the temp file is removed and `path` is untouched.
    With `digest`, returns the SHA-256 of the bytes written, hashed as they pass (no read-back).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            target = HashingWriter(handle) if digest else handle
            write(target)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return target.sha256.hexdigest() if isinstance(target, HashingWriter) else None


class HashingWriter:
    """A write-only file wrapper that updates a SHA-256 with every byte it passes on."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def in_folder(folder: Path, write: Callable[[], None], attempts: int = 5) -> None:
    """Run `write` with `folder` present; if the folder vanishes meanwhile (a cleanup script
    may remove it more than once), recreate it and retry, up to `attempts` times."""
    for attempt in range(attempts):
        folder.mkdir(parents=True, exist_ok=True)
        try:
            write()
            return
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # platforms without directory file descriptors (Windows)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
