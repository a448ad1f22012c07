"""What a provider says back, made safe to store, log and show: cut short, secrets masked.

A provider's text (error messages, request ids) and its cursors end up in workflow history,
`stream_state.last_error`, the worker log and `status --json`. A provider may echo what it was
sent: a token endpoint that repeats the posted form puts the client secret and refresh token in
its error, a next link may carry an access token. So every such value goes through here:

- the connection's secret values (client secret, refresh token, access token, API key, password),
  as sent and URL-encoded, become `***` wherever they appear;
- the value of every token-like parameter (`TOKEN_PARAMS`: `access_token=...`, `"token": "..."`),
  whoever's it is, becomes `***`;
- text is cut to `MAX_CHARS`. A cursor is never cut (a cut cursor would fetch the wrong page):
  `oversized` names a string of it longer than `MAX_CURSOR_CHARS`, which the caller refuses.

Pure functions, no I/O: connectors.http applies them once for every provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MAX_CHARS = 500
MAX_CURSOR_CHARS = 8192  # what web servers accept in a request line (a link is one)
# Shorter values are not masked everywhere they appear: a 3-character password would turn every
# occurrence of those letters into `***`. Such a secret is weak anyway.
MIN_SECRET_CHARS = 4
# Parameter names whose value is a credential or a signature, whatever API sent it. Not `code`
# (an ordinary filter in many APIs, e.g. a country code; an OAuth authorization code is
# single-use and never in a page link) nor `session` (often a paging handle).
TOKEN_PARAMS = (
    "access_token", "refresh_token", "id_token", "token", "client_secret", "client_assertion",
    "assertion", "api_key", "apikey", "api-key", "x-api-key", "key", "password", "passwd",
    "secret", "sig", "signature", "x-amz-signature", "x-amz-security-token", "x-amz-credential",
    "x-goog-signature", "x-goog-credential",
)
# name=value (query strings, forms), "name": "value" (JSON), 'name': 'value' (a Python repr).
# The name must not continue a longer word (`next_token=` is left alone); a quoted value runs to
# its closing quote (or the end: a text cut inside it), a bare one to the next separator.
_NAMES = "|".join(re.escape(name) for name in sorted(TOKEN_PARAMS, key=len, reverse=True))
_PARAM = re.compile(
    rf"""(?<![\w-])({_NAMES})(["']?\s*[=:]\s*)("[^"]*"?|'[^']*'?|[^\s"'&;,)}}\]#<>]+)""",
    re.IGNORECASE,
)


def _masked_param(match: re.Match[str]) -> str:
    value = match[3]
    opening = value[0] if value[0] in "\"'" else ""
    closing = opening if len(value) > 1 and value.endswith(opening) else ""
    return f"{match[1]}{match[2]}{opening}{MASK}{closing}"


def _variants(secrets: Iterable[str | None]) -> list[str]:
    """Each secret as sent and as a URL-encoded echo of it, longest first (so a secret that
    contains another is masked whole)."""
    found = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            found |= {secret, quote(secret, safe=""), quote_plus(secret)}
    return sorted(found, key=len, reverse=True)


def mask(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with the secret values and token-like parameter values replaced by `***`."""
    for secret in _variants(secrets):
        text = text.replace(secret, MASK)
    return _PARAM.sub(_masked_param, text)


def redact(text: str, secrets: Iterable[str | None], limit: int = MAX_CHARS) -> str:
    """Provider text to store or show: masked, then cut to `limit` characters (marked `…`)."""
    masked = mask(text, list(secrets))
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def redact_cursor(cursor: Any, secrets: Iterable[str | None]) -> Any:
    """A cursor (JSON: dicts, lists, scalars) with every string in it masked, never cut."""
    secrets = list(secrets)
    if isinstance(cursor, str):
        return mask(cursor, secrets)
    if isinstance(cursor, dict):
        return {key: redact_cursor(value, secrets) for key, value in cursor.items()}
    if isinstance(cursor, list):
        return [redact_cursor(value, secrets) for value in cursor]
    return cursor


def oversized(cursor: Any) -> int | None:
    """The length of the longest string in `cursor` when it is over `MAX_CURSOR_CHARS`."""
    if isinstance(cursor, str):
        return len(cursor) if len(cursor) > MAX_CURSOR_CHARS else None
    values = cursor.values() if isinstance(cursor, dict) else cursor \
        if isinstance(cursor, list) else ()
    return max((n for n in map(oversized, values) if n is not None), default=None)
