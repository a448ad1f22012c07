"""connectors/redact.py: secret values and token-like parameters masked, text cut, cursors kept."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from connectors.redact import (
    MASK,
    MAX_CHARS,
    MAX_CURSOR_CHARS,
    mask,
    oversized,
    redact,
    redact_cursor,
)

SECRET = "s3cr3t+value/with=signs"


@pytest.mark.parametrize("echo", [
    f"bad client {SECRET}",
    f"form: client_id=x&client_secret={quote_plus(SECRET)}&grant_type=refresh_token",
    f"{{'client_secret': '{SECRET}'}}",
    f"prefix{SECRET}suffix",
])
def test_the_connections_secret_values_are_masked(echo: str) -> None:
    masked = mask(echo, [SECRET])
    assert SECRET not in masked and quote_plus(SECRET) not in masked and MASK in masked


@pytest.mark.parametrize(("text", "expected"), [
    ("https://api.example/x?cursor=2&access_token=abc.def&b=1",
     "https://api.example/x?cursor=2&access_token=***&b=1"),
    ('{"refresh_token": "r-1 2", "client_id": "cid"}',
     '{"refresh_token": "***", "client_id": "cid"}'),
    ("{'password': 'hunter22'}", "{'password': '***'}"),
    ("TOKEN=abc;next=2", "TOKEN=***;next=2"),
    ("sig=AbC%2F&se=2030", "sig=***&se=2030"),
    ("X-Amz-Signature=ff00&X-Amz-Date=1", "X-Amz-Signature=***&X-Amz-Date=1"),
    ("x-api-key: k-123", "x-api-key: ***"),
    ("cut inside a quoted value: {'client_secret': 'abc", "cut inside a quoted value: "
     "{'client_secret': '***"),
])
def test_token_like_parameters_are_masked_whoever_sent_them(text: str, expected: str) -> None:
    assert mask(text, []) == expected


@pytest.mark.parametrize("text", [
    "?next_token=abc&page_key=2",  # a longer name that only contains one
    "grant_type=refresh_token",  # the name as a value
    "?code=US&country=FR",  # `code` is left out on purpose (a filter in many APIs)
    "The OAuth token used to make this call expired 3 days ago.",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask(text, []) == text


def test_short_or_empty_secrets_are_not_masked_everywhere() -> None:
    assert mask("a cat sat", ["a", "", None, "cat"]) == "a cat sat"
    assert mask("a cats sat", ["cats"]) == f"a {MASK} sat"


def test_a_secret_containing_another_is_masked_whole() -> None:
    assert mask("id abcdefgh", ["abcd", "abcdefgh"]) == f"id {MASK}"


def test_text_is_masked_before_it_is_cut() -> None:
    # Cut first, the secret's first characters would stay at the end.
    redacted = redact("x" * (MAX_CHARS - 5) + SECRET + "y" * 10, [SECRET])
    assert SECRET[:4] not in redacted
    assert len(redacted) == MAX_CHARS and redacted.endswith("…")
    assert redact("short", [SECRET]) == "short"


def test_a_cursor_is_masked_everywhere_and_never_cut() -> None:
    long = "p" * 3000
    cursor = {"token": f"https://api.example/x?access_token={SECRET}&cursor={long}",
              "seen": ["ab12", SECRET], "page": None, "n": 3}
    redacted = redact_cursor(cursor, [SECRET])
    assert redacted == {"token": f"https://api.example/x?access_token=***&cursor={long}",
                        "seen": ["ab12", MASK], "page": None, "n": 3}
    assert redact_cursor(None, [SECRET]) is None


def test_an_oversized_cursor_value_is_named() -> None:
    assert oversized({"token": "x" * MAX_CURSOR_CHARS, "seen": ["a"]}) is None
    assert oversized({"token": "x", "seen": ["y" * (MAX_CURSOR_CHARS + 1)]}) == \
        MAX_CURSOR_CHARS + 1
    assert oversized(None) is None and oversized(7) is None
