"""Where Tributary keeps its local files and which database it writes to."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The directory for the embedded database and the vault key (`TRIBUTARY_HOME`)."""
    path = Path(os.environ.get("TRIBUTARY_HOME", Path.home() / ".tributary")).expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


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
