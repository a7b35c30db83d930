"""Keep a batch's freed memory for the next batch (glibc's malloc, CPU training).

By default glibc serves every allocation above a few MB (a batch's activations and
gradients) with a fresh mmap and unmaps it when freed, so each batch page-faults the same
memory back in, zeroed by the kernel. Raising the mmap and trim thresholds keeps those
blocks in the heap: one epoch of the CNN in benchmarks/data_loading.py ran about 1.5x
faster on 2 CPU cores, for tens of MB more resident memory. A no-op where libc is not glibc.

This retunes the whole process, so only an entry point calls it (`nodeflow run`/`sweep`/`generate`,
and so the editor's runs): never `import nodeflow`, the Python API or a TrainingLoop in a user's program.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_AT = 256 << 20  # allocations below this come from the heap
TRIM_AT = 512 << 20  # free memory at the heap's top kept up to this much


@functools.cache
def keep_freed_memory() -> bool:
    """Set the thresholds once per process; True when glibc took them."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_AT)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_AT))
