"""A dev server of its own with the Web UI enabled, and the integration stack on top of it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from infra.rate_limits import DEV_SERVER_ARGS
from tests.conftest import temporal_cli
from tests.integration.conftest import make_stack, worker
from workflows.names import SEARCH_ATTRIBUTES

__all__ = ["make_stack", "worker", "ui_url"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ui_port() -> int:
    return _free_port()


@pytest.fixture(scope="module")
async def temporal(ui_port: int) -> AsyncIterator[WorkflowEnvironment]:
    """Overrides the session server for this folder: the shared one runs without a UI."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-disable-news-fetch", *DEV_SERVER_ARGS],
    )
    async with env:
        yield env


@pytest.fixture
def ui_url(temporal: WorkflowEnvironment, ui_port: int) -> str:
    return f"http://127.0.0.1:{ui_port}"
