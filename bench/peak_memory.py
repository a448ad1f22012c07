"""A process's peak resident set, as every bench tool reports it (pathlib only: dlt's venv too)."""

from __future__ import annotations

from pathlib import Path


def vm_hwm_kib(pid: int | str = "self") -> int:
    """VmHWM in KiB. Not ru_maxrss: Linux carries a parent's peak into it across fork and exec."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])
