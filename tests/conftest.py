"""Fixtures for every suite: a real Temporal dev server, both destination databases, a vault
key, an in-process worker and sandbox stacks. Shared code lives in tests/support/."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.rate_limits import DEV_SERVER_ARGS  # noqa: E402
from store.schema import metadata  # noqa: E402
from tests.support.processes import temporal_cli  # noqa: E402
from tests.support.stacks import Stack, stack_factory  # noqa: E402
from workflows.names import SEARCH_ATTRIBUTES  # noqa: E402

POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


HUBSPOT_API_VERSIONS = ("2026-03", "v3")


@pytest.fixture(params=HUBSPOT_API_VERSIONS)
def api_version(request: pytest.FixtureRequest) -> str:
    """A HubSpot API version, for make_stack(api_version=...): a test taking it runs on both."""
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The legacy API version runs on SQLite only: the paths are the connector's concern, not
    the database's, so a v3 run on PostgreSQL would test nothing new."""
    legacy_on_postgres = [
        item for item in items
        if (params := getattr(getattr(item, "callspec", None), "params", {})).get("api_version")
        == "v3" and params.get("database_url") == "postgresql"
    ]
    if legacy_on_postgres:
        config.hook.pytest_deselected(items=legacy_on_postgres)
        dropped = set(map(id, legacy_on_postgres))
        items[:] = [item for item in items if id(item) not in dropped]


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("tributary-home")
    os.environ["TRIBUTARY_HOME"] = str(home)
    os.environ["TRIBUTARY_VAULT_KEY"] = Fernet.generate_key().decode()
    yield


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        dev_server_extra_args=DEV_SERVER_ARGS,
    )
    async with env:
        yield env


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A schema of this test run's own, so concurrent runs on one database never collide."""
    url = POSTGRES_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    schema = f"tributary_test_{os.getpid()}"
    try:
        with create_engine(url).begin() as conn:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is unreachable at {url} ({exc.orig}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or set "
            "TEST_DATABASE_URL to a reachable database."
        )
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options=-csearch_path%3D{schema}"
    with create_engine(url).begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh destination database for each test, SQLite and PostgreSQL alike."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tributary.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        eng = create_engine(url)
        metadata.drop_all(eng)
        metadata.create_all(eng)
        eng.dispose()
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    yield url
    if previous is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = previous


@pytest.fixture
async def worker(temporal: WorkflowEnvironment, database_url: str) -> AsyncIterator[Client]:
    """The worker's workflows and activities in this process, on the dev server."""
    from worker import build_workers

    client = temporal.client
    workers = build_workers(client)
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield client
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*runs, return_exceptions=True)


@pytest.fixture
async def make_stack(worker: Client, database_url: str) -> AsyncIterator[Callable[..., Stack]]:
    """make_stack(settings, api_version=None, **sandbox_args): a HubSpot sandbox and a
    connection to it."""
    async with stack_factory(worker) as stacks:
        yield stacks.hubspot


@pytest.fixture
async def sf_stack(worker: Client, database_url: str) -> AsyncIterator[Callable[..., Stack]]:
    """sf_stack(settings, jwt=False, **sandbox_args): a Salesforce sandbox and a connection."""
    async with stack_factory(worker) as stacks:
        yield stacks.salesforce


@pytest.fixture
async def rest_stack(worker: Client, database_url: str) -> AsyncIterator[Callable[..., Stack]]:
    """rest_stack("hubspot", **sandbox_args) or rest_stack("people", api, **changes): the
    declarative REST connector against the HubSpot sandbox or the people API sandbox."""
    async with stack_factory(worker) as stacks:
        kinds = {"hubspot": stacks.rest_hubspot, "people": stacks.rest_people}

        def make(kind: str, *args: Any, **kwargs: Any) -> Stack:
            return kinds[kind](*args, **kwargs)

        yield make
