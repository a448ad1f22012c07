"""Where Tributary keeps its local files and which database it writes to."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def home() -> Path:
    """The directory for the embedded database, the vault key and the demo's logs
    (`TRIBUTARY_HOME`): the owner's only."""
    path = Path(os.environ.get("TRIBUTARY_HOME", Path.home() / ".tributary")).expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    owner_only(path)
    return path


def owner_only(path: Path) -> None:
    """Take group and others' access away from `path` (0700 a directory, 0600 a file), if it is
    ours: a directory or file an earlier version, a `mkdir` or a umask left open."""
    status = path.stat()
    if status.st_mode & 0o077 and status.st_uid == os.getuid():
        path.chmod(0o700 if stat.S_ISDIR(status.st_mode) else 0o600)


def database_url() -> str:
    """`DATABASE_URL` (PostgreSQL in production) or the embedded SQLite file."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{home() / 'tributary.db'}"
    # Accept the URL form every PostgreSQL tool prints; we drive it with psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
