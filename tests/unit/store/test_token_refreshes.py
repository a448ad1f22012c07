"""The refresh lease of a connection's token, and the lifetime stored with each refresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from starter import connections
from store import token_refreshes, vault
from store.db import engine

NOW = datetime(2026, 1, 1, 12)
LATER = NOW + timedelta(seconds=45)


@pytest.fixture
def connection(database_url: str) -> Iterator[str]:
    connections.add("leased", "hubspot", "t", {
        "base_url": "http://127.0.0.1:9", "token_url": "http://127.0.0.1:9/token",
        "client_id": "c"}, vault.Secrets("secret", "refresh"))
    yield "leased"


def test_one_holder_at_a_time_until_it_gives_the_lease_back(connection: str) -> None:
    with engine().begin() as conn:
        assert not token_refreshes.held(conn, connection, NOW)
        assert token_refreshes.claim(conn, connection, "a", NOW, LATER)
        assert token_refreshes.held(conn, connection, NOW)
        assert not token_refreshes.claim(conn, connection, "b", NOW, LATER)
        token_refreshes.release(conn, connection, "b")  # not b's to give back
        assert token_refreshes.held(conn, connection, NOW)
        token_refreshes.release(conn, connection, "a")
        assert not token_refreshes.held(conn, connection, NOW)
        assert token_refreshes.claim(conn, connection, "b", NOW, LATER)


def test_a_lease_whose_holder_died_runs_out(connection: str) -> None:
    with engine().begin() as conn:
        assert token_refreshes.claim(conn, connection, "dead", NOW, LATER)
        assert not token_refreshes.claim(conn, connection, "b", LATER - timedelta(seconds=1),
                                         LATER + timedelta(seconds=45))
        assert not token_refreshes.held(conn, connection, LATER)
        assert token_refreshes.claim(conn, connection, "b", LATER, LATER + timedelta(seconds=45))


def test_the_lifetime_belongs_to_the_credentials_version_it_was_stored_with(
    connection: str,
) -> None:
    with engine().begin() as conn:
        assert token_refreshes.lifetime_s(conn, connection, 0) is None  # never refreshed
        token_refreshes.claim(conn, connection, "a", NOW, LATER)
        token_refreshes.release(conn, connection, "a", (1, 60))
        assert token_refreshes.lifetime_s(conn, connection, 1) == 60
        # Re-authorized since (a newer version): the lifetime is unknown again.
        assert token_refreshes.lifetime_s(conn, connection, 2) is None
        assert not token_refreshes.held(conn, connection, NOW)
