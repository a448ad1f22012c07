"""Credentials encrypted at rest; the key comes from the environment or an owner-only key file."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Connection, insert, select, update

from infra.times import utcnow
from store.schema import credentials
from store.settings import home


class VaultError(Exception):
    """The vault key is missing or does not decrypt the stored credentials."""


class KeyFileExposed(VaultError):
    """The key file is open to other users: whoever reads it decrypts every credential."""


class ChangedMeanwhile(VaultError):
    """Someone else stored the connection's credentials since they were read."""


@dataclass
class Secrets:
    client_secret: str
    refresh_token: str
    access_token: str | None = None

    def __repr__(self) -> str:  # never let a secret reach a log line or a traceback
        return "Secrets(***)"


@dataclass
class StoredCredentials:
    secrets: Secrets
    access_expires_at: datetime | None
    version: int
    refresh_count: int


def key_file() -> Path:
    return Path(os.environ.get("TRIBUTARY_VAULT_KEY_FILE", home() / "vault.key")).expanduser()


def ensure_key() -> Path | None:
    """Create an owner-only key file when no key is configured; return its path if created."""
    if os.environ.get("TRIBUTARY_VAULT_KEY"):
        return None
    path = key_file()
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    return path


def _fernet() -> Fernet:
    key = os.environ.get("TRIBUTARY_VAULT_KEY")
    if not key:
        path = key_file()
        if not path.exists():
            raise VaultError(
                f"no vault key: set TRIBUTARY_VAULT_KEY or create {path} "
                "(`python -m starter connection add` creates it)"
            )
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileExposed(f"the key file {path} is open to other users (mode "
                                 f"{mode:04o}): run `chmod 600 {path}`")
        key = path.read_text().strip()
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise VaultError("the vault key is not a Fernet key (32 url-safe base64 bytes)") from exc


def _encrypt(secrets: Secrets) -> bytes:
    return _fernet().encrypt(json.dumps(asdict(secrets)).encode())


def _decrypt(ciphertext: bytes) -> Secrets:
    try:
        return Secrets(**json.loads(_fernet().decrypt(ciphertext)))
    except InvalidToken as exc:
        raise VaultError("the vault key does not decrypt these credentials") from exc


def store(conn: Connection, connection: str, secrets: Secrets) -> None:
    """Save a connection's credentials (a new connection, or re-authorization of one)."""
    now = utcnow()
    existing = conn.execute(
        select(credentials.c.version).where(credentials.c.connection == connection)
    ).scalar()
    values = {"ciphertext": _encrypt(secrets), "access_expires_at": None, "updated_at": now}
    if existing is None:
        conn.execute(insert(credentials).values(connection=connection, version=0, **values))
    else:
        conn.execute(
            update(credentials)
            .where(credentials.c.connection == connection)
            .values(version=existing + 1, **values)
        )


def load(conn: Connection, connection: str, *, for_update: bool = False) -> StoredCredentials:
    query = select(credentials).where(credentials.c.connection == connection)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None:
        raise VaultError(f"connection {connection!r} has no credentials")
    return StoredCredentials(
        secrets=_decrypt(row.ciphertext),
        access_expires_at=row.access_expires_at,
        version=row.version,
        refresh_count=row.refresh_count,
    )


def rotate(
    conn: Connection, connection: str, read_version: int, secrets: Secrets, expires_at: datetime
) -> int:
    """Store refreshed tokens if nobody else did since `read_version`; return the new version."""
    return _replace(conn, connection, read_version, secrets, access_expires_at=expires_at,
                    refresh_count=credentials.c.refresh_count + 1)


def keep_refresh_token(conn: Connection, connection: str, stored: StoredCredentials,
                       refresh_token: str) -> int:
    """Store a refresh token the provider rotated in an otherwise unusable answer (the old one
    stopped working); the access token stays as it was. Returns the new version."""
    secrets = Secrets(stored.secrets.client_secret, refresh_token, stored.secrets.access_token)
    return _replace(conn, connection, stored.version, secrets)


def _replace(conn: Connection, connection: str, read_version: int, secrets: Secrets,
             **values: object) -> int:
    """Compare-and-set on the version read: a refresh only replaces what it read."""
    result = conn.execute(
        update(credentials)
        .where(credentials.c.connection == connection, credentials.c.version == read_version)
        .values(ciphertext=_encrypt(secrets), version=read_version + 1, updated_at=utcnow(),
                **values)
    )
    if result.rowcount != 1:
        raise ChangedMeanwhile(f"credentials of {connection!r} changed during the refresh")
    return read_version + 1
