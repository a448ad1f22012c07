"""Keep the worker's resident memory near what its pages need (glibc only; elsewhere a no-op).

Pages pass through the worker as large buffers (response bodies, staged JSON) on several
threads. glibc's defaults grow a heap per thread and raise the mmap threshold after the first
large buffer is freed, so later buffers come from heaps that hold their memory: the peak RSS
then grows with the number of threads rather than the pages in flight.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("tributary.worker")

# mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
ARENAS = 1
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, fixed: large buffers go back on free


def bound() -> bool:
    """Apply the settings; call before the worker starts its threads. True if applied."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc: its allocator has its own rules
        return False
    applied: bool = (mallopt(_M_ARENA_MAX, ARENAS) == 1
                     and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)
    if not applied:
        log.warning("could not bound the allocator's heaps; memory may grow with threads")
    return applied
