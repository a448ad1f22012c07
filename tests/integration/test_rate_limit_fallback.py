"""The worker's rate-limit mode: the Temporal server's per-connection limits, else its own.

Both answers come from the real dev server: it accepts the task-queue configuration in the
test namespace and refuses it in a namespace it does not have.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra import limiter, rate_limits
from worker import select_rate_limiting


@pytest.fixture
async def refusing_client(temporal: WorkflowEnvironment) -> Client:
    return await Client.connect(temporal.client.service_client.config.target_host,
                               namespace="tributary-no-such-namespace")


@pytest.fixture(autouse=True)
def _server_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(limiter.FORCE_ENV, raising=False)
    yield
    limiter.configure(server_enforces=True)  # leave no local pacing to other tests


async def test_server_that_takes_the_limits_keeps_the_worker_unpaced(
    temporal: WorkflowEnvironment,
) -> None:
    assert await rate_limits.apply(temporal.client, ["hubspot", "salesforce"]) is True
    assert await select_rate_limiting(temporal.client) is False
    assert not limiter.active()


async def test_refused_limits_select_the_per_worker_limiter(
    refusing_client: Client, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert await rate_limits.apply(refusing_client, ["hubspot"]) is False
        assert await select_rate_limiting(refusing_client) is True
    assert limiter.active()
    refused = next(r.getMessage() for r in caplog.records if r.name == "tributary.rate_limits")
    # What is lost, what takes over, and what the operator sets.
    assert "NOT_FOUND" in refused and "Lost:" in refused and "Taking over:" in refused
    assert limiter.WORKERS_ENV in refused
    assert any(r.name == "tributary.limiter" and "per-worker rate limiter on" in r.getMessage()
               for r in caplog.records)


async def test_forcing_local_pacing_overrides_the_server(
    temporal: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(limiter.FORCE_ENV, "1")
    assert await select_rate_limiting(temporal.client) is True
