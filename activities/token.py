"""refresh_token: one refresh per connection at a time, coordinated through the database."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import Connection
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.models import TokenRequest, TokenStatus
from connectors.errors import NON_RETRYABLE, ProviderError
from infra import logs, metrics
from infra.configured import connector_for
from infra.times import to_ms, to_ms_or_none, utcnow
from infra.transactions import Transactions
from store import sync_state, vault


def _refresh(conn: Connection, request: TokenRequest) -> TokenStatus:
    connector, _, _ = connector_for(conn, request.connection)
    logs.bind(provider=connector.provider)
    # The row lock (FOR UPDATE; BEGIN IMMEDIATE on SQLite) is held across the provider call, so
    # a second refresher waits and then finds the new token instead of spending the refresh
    # token again (providers that rotate it would reject the second use).
    stored = vault.load(conn, request.connection, for_update=True)
    now = utcnow()
    margin = timedelta(seconds=connector.settings.refresh_margin_s)
    fresh = (
        stored.secrets.access_token is not None
        and stored.access_expires_at is not None
        and stored.access_expires_at > now + margin
    )
    if fresh and stored.version != request.stale_version:
        return TokenStatus(stored.version, to_ms_or_none(stored.access_expires_at), refreshed=False)
    at = metrics.labels(request.connection, request.stream, connector.provider)
    started = time.monotonic()
    try:
        grant = connector.refresh(stored.secrets.client_secret, stored.secrets.refresh_token)
    except ProviderError as exc:
        metrics.provider_call(at, "refresh_token", time.monotonic() - started, exc)
        raise
    metrics.provider_call(at, "refresh_token", time.monotonic() - started)
    expires_at = now + timedelta(seconds=grant.expires_in_s)
    secrets = vault.Secrets(stored.secrets.client_secret, grant.refresh_token, grant.access_token)
    version = vault.rotate(conn, request.connection, stored.version, secrets, expires_at)
    metrics.count(metrics.TOKEN_REFRESHES, 1, at)
    return TokenStatus(version, to_ms(expires_at), refreshed=True)


@activity.defn
async def refresh_token(request: TokenRequest) -> TokenStatus:
    return await refresh(Transactions.configured(), request)


async def refresh(db: Transactions, request: TokenRequest) -> TokenStatus:
    """refresh_token on the given database."""
    try:
        return await db.write(_refresh, request)
    except ProviderError as exc:
        await db.write(sync_state.record_error, request.connection, request.stream,
                       exc.category, str(exc), exc.category not in NON_RETRYABLE)
        raise exc.to_application_error() from None
    except vault.VaultError as exc:
        raise ApplicationError(str(exc), type="auth_failure", non_retryable=True) from None

