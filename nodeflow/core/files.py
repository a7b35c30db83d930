"""Durable atomic file writes, the one protocol every file we write goes through."""
from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor


def atomic_write(path: Path, write: Callable[[BinaryIO], object], digest: bool = False,
                 lasting: Mapping[int, int] | None = None, size: int = 0) -> str | None:
    """Call `write(handle)` on a temp file in `path`'s folder, fsync, rename over `path`, fsync the folder.

    A crash at any moment leaves either the old file or the new one under `path`, never
    a partial file. On failure (disk full, ...) the temp file is removed and `path` is untouched.
    With `digest`, returns the SHA-256 of the bytes written, hashed as they pass (no read-back).
    `lasting`: memory the caller keeps unchanged until this returns ({address: length}, see
    HashingWriter); bytes written straight from it are hashed while the fsync and rename wait.
    `size`: about how many bytes `write` will write, reserved on disk first (preallocate).

    The file's mode is what `open()` would give: a new file gets 0o666 less the umask; a regular
    file it replaces keeps its own permission bits, so a checkpoint or export the user made
    private stays private when it is written again.
    """
    mode = file_mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    hashing = old = None
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes the file 0o600 whatever the umask
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            reserved = size >= PREALLOCATE_FROM and preallocate(fd, size)
            hashing = HashingWriter(handle, lasting) if digest else None
            write(hashing or handle)  # type: ignore[arg-type]
            if reserved:
                handle.truncate()  # what the estimate reserved beyond the end is freed
            handle.flush()
            os.fsync(handle.fileno())
        old = _open_large(path)
        os.replace(tmp, path)
    except BaseException as exc:
        if hashing is not None:
            hashing.hexdigest()  # the helper stops reading the caller's memory before this returns
        Path(tmp).unlink(missing_ok=True)
        if old is not None:
            os.close(old)
        if hashing is not None and hashing.error is not None and exc is not hashing.error:
            raise hashing.error from None  # torch.save reports a failed write as "unexpected pos N"
        raise
    fsync_dir(path.parent)
    checksum = hashing.hexdigest() if hashing is not None else None  # what the fsyncs left to hash
    if old is not None:  # the replaced file's blocks are freed when this closes, off the caller's time
        threading.Thread(target=os.close, args=(old,), name=RELEASE, daemon=True).start()
    return checksum


def _read_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc); elsewhere set and
    restored at once, through a restrictive value so a file another thread creates meanwhile is private."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # read once, when this module is first imported


def file_mode(path: Path) -> int:
    """The permission bits a write of `path` gives: a regular file's own, else 0o666 less the umask."""
    try:
        info = os.lstat(path)
    except OSError:
        return 0o666 & ~UMASK
    return stat.S_IMODE(info.st_mode) & 0o777 if stat.S_ISREG(info.st_mode) else 0o666 & ~UMASK


def not_a_file(path: Path) -> str | None:
    """What is at `path` when it is neither nothing nor a regular file (nor a link, which a write
    replaces without touching its target): "a folder", "a device", "a FIFO", "a socket"; else None."""
    try:
        kind = os.lstat(path).st_mode
    except OSError:
        return None
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(kind):
            return name
    return None


LARGE = 64 << 20  # replacing a file this large frees its blocks on a helper thread
RELEASE = "nodeflow-release"  # that thread's name


def _open_large(path: Path) -> int | None:
    """A read-only descriptor of `path` if it is a large file on POSIX, else None. Replacing a file
    frees its blocks in the rename (ext4: ~70 ms per 400 MB) unless it is still open somewhere."""
    if os.name != "posix":
        return None  # Windows cannot replace a file that is open
    try:
        if os.stat(path).st_size < LARGE:
            return None
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


PIECE = 1 << 20  # writes at least this large are hashed on a helper thread while the OS takes them
WRITEBACK = 8 << 20  # start the disk write of every this many bytes while the rest comes (0: leave it to fsync)
WRITEBACK_FROM = 160 << 20  # ... in files past this size (smaller ones: one fsync measured faster)


class HashingWriter:
    """A write-only file wrapper that updates a SHA-256 with every byte it passes on, no read-back.

    A large write (a tensor's bytes) is hashed on a helper thread (hashlib releases the GIL)
    while this thread hands the same memory to the OS, so nothing is copied. The hash costs more
    CPU than the write itself (SHA-256 ~0.05 s per 100 MB here, the page-cache copy ~0.02 s), so
    where it can, it lags behind: a write straight from `lasting` memory (a payload's CPU tensors,
    unchanged until the digest is taken) returns without waiting for its hash, and hexdigest,
    called after the fsync and rename, finds the rest hashed while the disk worked. Any other
    large write returns when its hash is done, so the caller may reuse that memory at once; a
    small one is hashed inline, or copied into the queue while the helper is behind.
    Every WRITEBACK bytes the kernel is asked to start writing what came so far
    (start_writeback), so the final fsync finds most of the file on its way to disk."""

    def __init__(self, handle: BinaryIO, lasting: Mapping[int, int] | None = None):
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.lasting = lasting or {}  # {address: length} of memory unchanged until hexdigest
        self._hasher: ThreadPoolExecutor | None = None
        self._queued: Future[None] | None = None  # the last piece handed to the helper
        self._started = 0  # where the last writeback request ended
        self.error: OSError | None = None  # a failed write, for the caller (torch.save hides it)

    def write(self, data: bytes) -> int:
        try:
            self._write(memoryview(data).cast("B"))
        except OSError as exc:
            self.error = exc
            raise
        return len(data)

    def _write(self, view: memoryview) -> None:
        if self._lasts(view):
            self._queue(view)  # hashed later: this memory stays as it is until hexdigest
            self.handle.write(view)
        elif len(view) >= PIECE:
            hashed = self._queue(view)
            try:
                self.handle.write(view)
            finally:
                hashed.result()  # the queue is in order: every piece before this one is hashed too
        elif self._queued is not None and not self._queued.done():
            self._queue(bytes(view))  # the helper is behind: a copy of these few bytes waits their turn
            self.handle.write(view)
        else:
            self.sha256.update(view)
            self.handle.write(view)
        if WRITEBACK:
            written = self.handle.tell()
            if written >= WRITEBACK_FROM and written - self._started >= WRITEBACK:
                self.handle.flush()
                start_writeback(self.handle.fileno(), self._started, written - self._started)
                self._started = written

    def _lasts(self, view: memoryview) -> bool:
        """Whether `view` starts a block of `lasting` memory (torch.save writes a CPU tensor's
        storage from its own memory, in one piece) and lies inside it."""
        if not self.lasting or len(view) < 4096:
            return False
        import numpy  # a dependency of ours; already imported with torch

        address = numpy.frombuffer(view, numpy.uint8).__array_interface__["data"][0]
        return self.lasting.get(address, -1) >= len(view)

    def _queue(self, piece: memoryview | bytes) -> Future[None]:
        if self._hasher is None:
            from concurrent.futures import ThreadPoolExecutor  # only where a large save needs it

            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="nodeflow-hash")
        self._queued = self._hasher.submit(self.sha256.update, piece)
        return self._queued

    def flush(self) -> None:
        self.handle.flush()

    def hexdigest(self) -> str:
        """The SHA-256 of everything written; waits for the helper thread and stops it."""
        if self._hasher is not None:
            self._hasher.shutdown()
            self._hasher = None
        return self.sha256.hexdigest()


PREALLOCATE_FROM = 16 << 20  # files expected this large get their blocks in one request first


def preallocate(fd: int, size: int) -> bool:
    """Reserve `size` bytes of disk for the empty file `fd` in one request (Linux's fallocate);
    True when it did. The writes then fill blocks already allocated instead of reserving them page
    by page (ext4's delayed allocation). No emulation where the file system cannot (glibc's
    posix_fallocate would write every block), and a refusal (a full disk) is left to the write
    itself to report."""
    function = _libc("fallocate", "int", "int", "int64", "int64")
    return function is not None and function(fd, 0, 0, size) == 0


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a byte range to disk without waiting for it (Linux's
    sync_file_range with SYNC_FILE_RANGE_WRITE; the fsync after still makes the file durable).
    Elsewhere nothing: the fsync does it all."""
    function = _libc("sync_file_range", "int", "int64", "int64", "uint")
    if function is not None:
        function(fd, offset, length, 2)


@cache
def _libc(name: str, *argtypes: str) -> Callable[..., int] | None:
    """The C library's function `name` (ctypes: Python's os module has neither call), or None."""
    import ctypes  # only where a large save needs it

    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError, TypeError):  # not Linux
        return None
    function.argtypes = [getattr(ctypes, f"c_{kind}") for kind in argtypes]
    function.restype = ctypes.c_int
    return function


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


def write_bytes(data: bytes, handle: BinaryIO) -> None:
    """A writer for atomic_write and write_output that puts `data` in the file: `partial(write_bytes, data)`."""
    handle.write(data)
