"""Compressed checkpoints: torch.save through a zstd or gzip stream, `.pt.zst` / `.pt.gz`.

Such files no longer open with a plain `torch.load(path)` (it needs the decompressed
bytes), which is why compression is off by default. Every NodeFlow reader detects the
format from the file's first bytes, not its name.
"""
from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import IO, Any, BinaryIO

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
            torch.save(payload, stream)
    elif method == "zstd":
        zstd = _zstd()
        writer = zstd.ZstdCompressor(level=3).stream_writer(handle, closefd=False)
        torch.save(payload, writer)
        writer.flush(zstd.FLUSH_FRAME)
    else:
        torch.save(payload, handle)


def opened(path: Path) -> Path | IO[bytes]:
    """What torch.load should read: the path itself, or its decompressed bytes."""
    with path.open("rb") as handle:
        head = handle.read(4)
    method = MAGIC.get(head[:2]) or MAGIC.get(head)
    if method is None:
        return path
    try:
        if method == "gzip":
            return io.BytesIO(gzip.decompress(path.read_bytes()))
        zstd = _zstd()
        if zstd is None:
            raise CheckpointError(Issue("zstd-compressed checkpoint: install the zstandard package to read it",
                                        file=str(path)))
        stream = zstd.ZstdDecompressor().decompressobj()
        data = stream.decompress(path.read_bytes())
        if not stream.eof:
            raise EOFError("the file ends before the end of the compressed stream (truncated)")
        return io.BytesIO(data)
    except (OSError, EOFError, ValueError) as exc:
        raise CheckpointError(Issue(f"corrupt {method}-compressed checkpoint: {exc}", file=str(path))) from None
    except Exception as exc:  # zstandard.ZstdError
        if type(exc).__module__.startswith("zstandard"):
            raise CheckpointError(Issue(f"corrupt zstd-compressed checkpoint: {exc}", file=str(path))) from None
        raise


def _zstd() -> Any:
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard
