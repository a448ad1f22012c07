"""The worker's allocator settings: large page buffers are returned to the system when freed."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# In a fresh interpreter: free one large buffer (glibc then raises its mmap threshold above
# that size), allocate another, and report whether the second one was mmapped (freed on del).
_PROBE = """
import ctypes, sys
from infra import heap

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "bound":
    assert heap.bound()
first = bytearray(1 << 20)
del first
before = libc.mallinfo2().hblks
second = bytearray(1 << 20)
print(libc.mallinfo2().hblks - before)
"""


def _mmapped_after_a_free(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_large_buffers_stay_mmapped_after_one_is_freed() -> None:
    assert _mmapped_after_a_free("default") == 0  # glibc's own rule: reused from the heap
    assert _mmapped_after_a_free("bound") == 1
