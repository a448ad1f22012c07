"""A connection's connector and mappings, built once per stored configuration."""

from __future__ import annotations

import functools
from typing import Any

import orjson
from sqlalchemy import Connection
from temporalio.exceptions import ApplicationError

from connectors.base import Connector
from connectors.mapping import Mapping
from connectors.registry import UnknownProvider, build
from store import connections

_SORTED = orjson.OPT_SORT_KEYS


def invalid_input(message: str) -> ApplicationError:
    return ApplicationError(message, type="invalid_input", non_retryable=True)


@functools.lru_cache(maxsize=256)
def _built(provider: str, config: bytes) -> tuple[Connector, dict[str, Mapping]]:
    """Connectors are stateless: one per configuration, not one per page (validating a
    configuration and its mappings costs more than a page's staging)."""
    return build(provider, orjson.loads(config))


def connector_for(conn: Connection, connection: str) -> tuple[Any, dict[str, Mapping], Any]:
    """(connector, mappings, connection row) for a connection, or a clear non-retryable error.

    The connector is Any: activities read its provider's own `settings`, which the Connector
    protocol does not name."""
    try:
        row = connections.get(conn, connection)
        connector, mappings = _built(row.provider, orjson.dumps(row.config, option=_SORTED))
    except (connections.UnknownConnection, UnknownProvider) as exc:
        raise invalid_input(str(exc)) from None
    except ValueError as exc:  # pydantic: the stored settings no longer validate
        raise invalid_input(f"connection {connection!r} is misconfigured: {exc}") from None
    return connector, mappings, row
