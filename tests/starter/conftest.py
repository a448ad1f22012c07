"""The integration suite's in-process worker and sandbox stack, reused for CLI tests."""

from tests.integration.conftest import make_stack, worker

__all__ = ["make_stack", "worker"]
