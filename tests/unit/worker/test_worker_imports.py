"""The worker stands on its own package (infra/), never on the CLI's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_worker_imports_nothing_from_the_starter() -> None:
    # A fresh interpreter: this test process has imported the starter already.
    probe = ("import sys, worker; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'starter'))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"
