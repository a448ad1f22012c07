"""The refresh lease of a connection's token, and the lifetime of the token it stored.

A refresher claims the lease in a short transaction, calls the provider outside any
transaction, then stores the new secrets (a compare-and-set on the vault's version) and gives
the lease back. Another refresher that finds a live lease waits for it instead of spending the
refresh token again; a lease whose holder died runs out on its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from store.schema import token_refreshes


def held(conn: Connection, connection: str, now: datetime) -> bool:
    """Whether someone holds a live lease on the connection's refresh."""
    until = conn.execute(select(token_refreshes.c.lease_expires_at).where(
        token_refreshes.c.connection == connection,
        token_refreshes.c.holder.is_not(None))).scalar()
    return until is not None and until > now


def claim(conn: Connection, connection: str, holder: str, now: datetime,
          until: datetime) -> bool:
    """Take the lease unless a live one is held. The caller serialises claims (it holds the
    credentials row for update in the same short transaction)."""
    if held(conn, connection, now):
        return False
    claimed = conn.execute(update(token_refreshes).where(
        token_refreshes.c.connection == connection).values(holder=holder,
                                                           lease_expires_at=until))
    if claimed.rowcount == 0:
        conn.execute(insert(token_refreshes).values(connection=connection, holder=holder,
                                                    lease_expires_at=until))
    return True


def release(conn: Connection, connection: str, holder: str,
            stored: tuple[int, int | None] | None = None) -> None:
    """Give the lease back if still ours; `stored` = (credential version, token lifetime in
    seconds or None) when the refresh stored new secrets."""
    lease = {"holder": None, "lease_expires_at": None}
    conn.execute(update(token_refreshes).where(
        token_refreshes.c.connection == connection, token_refreshes.c.holder == holder
    ).values(**lease))
    if stored is not None:
        version, lifetime_s = stored
        conn.execute(update(token_refreshes).where(
            token_refreshes.c.connection == connection
        ).values(credential_version=version, lifetime_s=lifetime_s))


def lifetime_s(conn: Connection, connection: str, version: int) -> int | None:
    """The lifetime of the access token of credentials `version`, if a refresh stored it."""
    row = conn.execute(select(token_refreshes.c.credential_version,
                              token_refreshes.c.lifetime_s).where(
        token_refreshes.c.connection == connection)).one_or_none()
    return row.lifetime_s if row is not None and row.credential_version == version else None
