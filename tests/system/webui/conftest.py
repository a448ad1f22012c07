"""A dev server of its own with the Web UI enabled; the root fixtures' stacks run on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from infra.rate_limits import DEV_SERVER_ARGS
from tests.support.network import free_port
from tests.support.processes import temporal_cli
from workflows.names import SEARCH_ATTRIBUTES


@pytest.fixture(scope="module")
def ui_port() -> int:
    return free_port()


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
