"""Compressed checkpoints: torch.save through a zstd or gzip stream, `.pt.zst` / `.pt.gz`.

Such files no longer open with a plain `torch.load(path)` (it needs the decompressed
bytes), which is why compression is off by default. Every NodeFlow reader detects the
format from the file's first bytes, not its name.
"""
from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import torch

from nodeflow.core.errors import CheckpointError, Issue

METHODS = ("none", "gzip", "zstd")
SUFFIX = {"none": "", "gzip": ".gz", "zstd": ".zst"}
MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}


def method_of(value: Any) -> str:
    """A config value (False/True/'none'/'gzip'/'zstd') as a method name; True picks zstd when installed."""
    if value is None or value is False or value == "":
        return "none"
    if value is True:
        return "zstd" if _zstd() is not None else "gzip"
    if value not in METHODS:
        raise CheckpointError(Issue(f"compression must be one of {', '.join(METHODS)} (or True/False), got {value!r}"))
    if value == "zstd" and _zstd() is None:
        raise CheckpointError(Issue("compression 'zstd' needs the zstandard package (pip install zstandard)"))
    return value


def file_name(name: str, method: str) -> str:
    return name + SUFFIX[method]


def save(payload: dict[str, Any], handle: BinaryIO, method: str) -> None:
    """torch.save `payload` into `handle`, through the compressor when `method` is not 'none'."""
    if method == "gzip":
        with gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=6, mtime=0) as stream:
            torch.save(payload, cast(BinaryIO, stream))
    elif method == "zstd":
        zstd = _zstd()
        writer = zstd.ZstdCompressor(level=3).stream_writer(handle, closefd=False)
        torch.save(payload, writer)
        writer.flush(zstd.FLUSH_FRAME)
    else:
        torch.save(payload, handle)


def opened(path: Path, limit: int | None = None) -> Path | IO[bytes]:
    """What torch.load should read: the path itself, or its decompressed bytes (at most `limit`
    bytes, by default `expansion_limit` of the file's size; more is refused in one line)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    method = MAGIC.get(head[:2]) or MAGIC.get(head)
    if method is None:
        return path
    limit = expansion_limit(path.stat().st_size) if limit is None else limit
    try:
        with path.open("rb") as handle:
            data = _gunzip(handle, limit) if method == "gzip" else _unzstd(handle, limit, path)
            if data is not None:
                data.seek(0)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise CheckpointError(Issue(f"corrupt {method}-compressed checkpoint: {exc}", file=str(path))) from None
    except Exception as exc:  # zstandard.ZstdError
        if type(exc).__module__.startswith("zstandard"):
            raise CheckpointError(Issue(f"corrupt zstd-compressed checkpoint: {exc}", file=str(path))) from None
        raise
    if data is None:
        raise CheckpointError(Issue(f"refused: it expands to more than {limit >> 20} MiB ({RATIO} times its size "
                                    f"plus {CEILING >> 20} MiB), more than any checkpoint of its size holds "
                                    "(a decompression bomb, or not a checkpoint)", file=str(path)))
    return data


CEILING = 256 << 20  # what a small compressed file may expand to, whatever its size
RATIO = 32  # and beyond that, times its own size: weights compress by 1.1-2x, zeros by far more
ZSTD_MAX_RATIO = 1 << 16  # zstd's format cannot expand one input byte to more (a 128 KiB block per 3+ bytes)


def expansion_limit(size: int) -> int:
    """The most bytes a compressed checkpoint of `size` bytes may decompress to."""
    return CEILING + RATIO * size


def _gunzip(handle: BinaryIO, limit: int) -> io.BytesIO | None:
    """The decompressed bytes, or None past `limit` (read in pieces: a bomb never fills memory)."""
    return _bounded(gzip.GzipFile(fileobj=handle, mode="rb").read1, limit)


def _bounded(read: Any, limit: int) -> io.BytesIO | None:
    out = io.BytesIO()
    while piece := read(1 << 20):
        if out.tell() + len(piece) > limit:
            return None
        out.write(piece)
    return out


def _unzstd(handle: BinaryIO, limit: int, path: Path) -> io.BytesIO | None:
    """The decompressed bytes, or None past `limit`: the input is fed in pieces small enough that
    no piece can expand past what is left of the limit; a stream cut short is refused."""
    zstd = _zstd()
    if zstd is None:
        raise CheckpointError(Issue("zstd-compressed checkpoint: install the zstandard package to read it",
                                    file=str(path)))
    stream = zstd.ZstdDecompressor().decompressobj()
    out = io.BytesIO()
    while not stream.eof:
        piece = handle.read(max(64, (limit - out.tell()) // ZSTD_MAX_RATIO))
        if not piece:
            raise EOFError("the file ends before the end of the compressed stream (truncated)")
        out.write(stream.decompress(piece))
        if out.tell() > limit:
            return None
    return out


def _zstd() -> Any:
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard
