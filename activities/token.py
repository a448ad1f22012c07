"""refresh_token: one refresh per connection at a time, and no database lock held meanwhile.

The refresher claims the connection's refresh lease in a short transaction, calls the token
endpoint outside any transaction, then stores the new secrets with a compare-and-set on the
vault's version and gives the lease back (store.token_refreshes). A second refresher that finds
the lease held waits for it and then uses the new token, instead of spending the refresh token
again: a provider that rotates refresh tokens rejects the second use. On SQLite, whose one
writer lock every staging write of the worker needs, a slow token endpoint thus delays nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Connection
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.models import TokenRequest, TokenStatus
from connectors.base import TokenGrant, UnusableGrant
from connectors.errors import NON_RETRYABLE, ProviderError
from infra import http, logs, metrics
from infra.configured import connector_for
from infra.times import from_ms, now_ms, to_ms_or_none, utcnow
from infra.transactions import Transactions
from store import sync_state, token_refreshes, vault

# A live lease is polled this often (a read, which on SQLite takes no lock).
LEASE_POLL_S = 0.2
# A lease outlives its holder's token call (at most the connection's timeout_s) by this much;
# a holder that died is replaced once it runs out.
LEASE_SLACK_S = 15.0


@dataclass
class _Claim:
    """What the lease's holder needs for its call; or the token to use, with no call at all."""

    status: TokenStatus | None
    connector: Any = None
    stored: vault.StoredCredentials | None = None


def _usable(conn: Connection, request: TokenRequest, connector: Any,
            stored: vault.StoredCredentials) -> TokenStatus | None:
    """The stored token, if it needs no refresh: not due by the refresh rule, and not the
    version the provider has just refused (request.stale_version)."""
    if stored.secrets.access_token is None or stored.version == request.stale_version:
        return None
    lifetime_s = token_refreshes.lifetime_s(conn, request.connection, stored.version)
    status = TokenStatus(stored.version, to_ms_or_none(stored.access_expires_at), False,
                         None if lifetime_s is None else lifetime_s * 1000)
    due = status.refresh_at_ms(connector.settings.refresh_margin_s * 1000)
    return status if due is not None and now_ms() < due else None


def _waiting(conn: Connection, request: TokenRequest) -> TokenStatus | None | bool:
    """While polling: the token to use, True while the lease is held, None to claim it."""
    connector, _, _ = connector_for(conn, request.connection)
    status = _usable(conn, request, connector, vault.load(conn, request.connection))
    if status is not None:
        return status
    return token_refreshes.held(conn, request.connection, utcnow()) or None


def _claim(conn: Connection, request: TokenRequest, holder: str) -> _Claim | None:
    """A short write: the token to use, the lease claimed, or None while someone holds it."""
    connector, _, _ = connector_for(conn, request.connection)
    # The row lock (BEGIN IMMEDIATE on SQLite) serialises claims for this short transaction only.
    stored = vault.load(conn, request.connection, for_update=True)
    status = _usable(conn, request, connector, stored)
    if status is not None:
        return _Claim(status)
    now = utcnow()
    until = now + timedelta(seconds=connector.settings.timeout_s + LEASE_SLACK_S)
    if not token_refreshes.claim(conn, request.connection, holder, now, until):
        return None
    return _Claim(None, connector, stored)


def _store(conn: Connection, request: TokenRequest, holder: str,
           stored: vault.StoredCredentials, grant: TokenGrant, started_ms: int) -> TokenStatus:
    # Expiry counts from before the call: the provider's clock started no later.
    expires_at = from_ms(started_ms + grant.expires_in_s * 1000)
    secrets = vault.Secrets(stored.secrets.client_secret, grant.refresh_token, grant.access_token)
    version = vault.rotate(conn, request.connection, stored.version, secrets, expires_at)
    token_refreshes.release(conn, request.connection, holder, (version, grant.expires_in_s))
    return TokenStatus(version, to_ms_or_none(expires_at), refreshed=True,
                       lifetime_ms=grant.expires_in_s * 1000)


def _keep(conn: Connection, request: TokenRequest, holder: str,
          stored: vault.StoredCredentials, refresh_token: str) -> None:
    """The provider rotated the refresh token in an answer otherwise unusable: keep the new
    one (the old stopped working), with the access token and its lifetime as they were."""
    version = vault.keep_refresh_token(conn, request.connection, stored, refresh_token)
    lifetime_s = token_refreshes.lifetime_s(conn, request.connection, stored.version)
    token_refreshes.release(conn, request.connection, holder, (version, lifetime_s))


def _failed(conn: Connection, request: TokenRequest, holder: str,
            error: ProviderError | None) -> None:
    token_refreshes.release(conn, request.connection, holder)
    if error is not None:
        sync_state.record_error(conn, request.connection, request.stream, error.category,
                                str(error), error.category not in NON_RETRYABLE)


@activity.defn
async def refresh_token(request: TokenRequest) -> TokenStatus:
    return await refresh(Transactions.configured(), http.client(), request)


async def refresh(db: Transactions, client: httpx.AsyncClient,
                  request: TokenRequest) -> TokenStatus:
    """refresh_token on the given database and HTTP client."""
    holder = uuid.uuid4().hex
    try:
        claim = await _claimed(db, request, holder)
        if claim.status is not None:
            return claim.status
        return await _call(db, client, request, holder, claim)
    except vault.ChangedMeanwhile as exc:
        # Re-authorized during the call: the next attempt refreshes with the new secrets.
        raise ApplicationError(str(exc), type="conflict") from None
    except vault.VaultError as exc:
        raise ApplicationError(str(exc), type="auth_failure", non_retryable=True) from None


async def _claimed(db: Transactions, request: TokenRequest, holder: str) -> _Claim:
    """Wait until the token needs no refresh or the lease is ours."""
    while True:
        waiting = await db.read(_waiting, request)
        if isinstance(waiting, TokenStatus):
            return _Claim(waiting)
        if waiting is None:
            claim = await db.write(_claim, request, holder)
            if claim is not None:
                return claim
        await asyncio.sleep(LEASE_POLL_S)  # heartbeats go on meanwhile


async def _call(db: Transactions, client: httpx.AsyncClient, request: TokenRequest,
                holder: str, claim: _Claim) -> TokenStatus:
    """The lease is ours: the provider call, outside any transaction, then its outcome, which
    gives the lease back in the same transaction as it stores anything."""
    connector, stored = claim.connector, claim.stored
    assert stored is not None
    logs.bind(provider=connector.provider)
    at = metrics.labels(request.connection, request.stream, connector.provider)
    started, started_ms = time.monotonic(), now_ms()
    try:
        try:
            grant = await _grant(db, client, request, holder, connector, stored)
        except ProviderError as exc:
            metrics.provider_call(at, "refresh_token", time.monotonic() - started, exc)
            await db.write(_failed, request, holder, exc)
            raise exc.to_application_error() from None
        metrics.provider_call(at, "refresh_token", time.monotonic() - started)
        status = await db.write(_store, request, holder, stored, grant, started_ms)
    except BaseException:
        # Whatever failed (the database, a cancellation), give the lease back now rather than
        # have the next refresher wait it out; a no-op when the lease is back already.
        with contextlib.suppress(ApplicationError):
            await asyncio.shield(db.write(_failed, request, holder, None))
        raise
    metrics.count(metrics.TOKEN_REFRESHES, 1, at)
    return status


async def _grant(db: Transactions, client: httpx.AsyncClient, request: TokenRequest,
                 holder: str, connector: Any, stored: vault.StoredCredentials) -> TokenGrant:
    try:
        grant: TokenGrant = await connector.refresh(client, stored.secrets.client_secret,
                                                    stored.secrets.refresh_token)
    except UnusableGrant as exc:
        await db.write(_keep, request, holder, stored, exc.refresh_token)
        raise exc.error from None
    return grant
