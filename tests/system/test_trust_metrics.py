"""The worker's /metrics has no authentication: it listens on this host only unless told."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest

from tests.support.network import free_port
from tests.support.processes import WorkerProcess

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def answers(host: str, port: int) -> bool:
    """Whether /metrics answers at host:port. 127.0.0.2 is this host too, but a socket bound
    to 127.0.0.1 alone does not accept it, where one bound to every interface does."""
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError:
        return False
    return httpx.get(f"http://{host}:{port}/metrics", timeout=10).status_code == 200


async def test_metrics_listen_on_loopback_by_default(
    worker_process: Callable[..., WorkerProcess]
) -> None:
    private = worker_process(metrics_port=free_port())
    await private.connected()
    assert private.metrics_port is not None
    assert answers("127.0.0.1", private.metrics_port)
    assert not answers("127.0.0.2", private.metrics_port)
    assert f"http://127.0.0.1:{private.metrics_port}/metrics" in private.log_text()

    # A container sets TRIBUTARY_METRICS_HOST=0.0.0.0 (docker-compose.yml): every interface.
    shared = worker_process(metrics_port=free_port(), TRIBUTARY_METRICS_HOST="0.0.0.0")
    await shared.connected()
    assert shared.metrics_port is not None
    assert answers("127.0.0.2", shared.metrics_port)


async def test_a_metrics_host_that_is_not_an_address_stops_the_worker(
    worker_process: Callable[..., WorkerProcess]
) -> None:
    bad = worker_process(metrics_port=free_port(), TRIBUTARY_METRICS_HOST="metrics.example")
    assert bad.process is not None
    assert bad.process.wait(60) == 1
    assert "worker: TRIBUTARY_METRICS_HOST must be an IP address" in bad.log_text()
    assert "Traceback" not in bad.log_text()
