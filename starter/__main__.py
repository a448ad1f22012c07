"""Entry point of `python -m starter`."""

import os
import sys

from starter.cli import app

try:
    app(prog_name="python -m starter")
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if isinstance(exc.code, str):
        print(exc.code, file=sys.stderr)
# Skip interpreter teardown: the Temporal SDK's native runtime intermittently crashes (SIGSEGV)
# at exit after a failed connect, turning a clean exit code into 139.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
