"""Process-level settings that keep the per-frame path fast on a CPU.

glibc's malloc adapts its mmap and trim thresholds as memory is freed; after some allocation
history (e.g. another model run in the same process) the renderer's multi-megabyte activations
(a 64x128x128 float tensor is 4 MiB) get returned to the kernel after every frame and re-faulted
on the next one: measured ~4960 minor page faults per mobile frame and ~2x the frame time, against
0 faults on a fresh process (docs/speed.md). Fixing both thresholds stops the adaptation: big
blocks stay in the heap and are reused. The cost is that the heap is not trimmed below its peak
(tens of MB for the mobile renderer).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest accepted value on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_heap_memory() -> bool:
    """Fix glibc malloc's mmap/trim thresholds for this process; False where not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("malloc thresholds fixed: %s", ok)
    return ok
