"""Malformed provider payloads and malformed inputs: a clear error each, never a crash."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import PageRequest
from connectors.errors import ProviderError
from connectors.http import Reply
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.mapping import apply, default_mapping
from workflows.inputs import parse_backfill, parse_input

NOW_MS = 1_800_000_000_000  # 2027-01-15: the instant no backfill may start after
CATEGORIES = {"auth_failure", "rate_limited", "validation_error", "server_error", "timeout",
              "conflict"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
records = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=12), st.integers(), st.none()),
        "archived": json_values,
        "updatedAt": st.one_of(st.text(max_size=30), st.integers(), st.none()),
        "properties": st.one_of(
            st.dictionaries(
                st.sampled_from(["email", "firstname", "phone", "lastmodifieddate",
                                 "createdate", "lifecyclestage", "company"]),
                json_values, max_size=7),
            json_values),
    },
)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(record=st.one_of(records, json_values))
def test_mapping_never_crashes(record: Any) -> None:
    if not isinstance(record, dict):
        record = {"value": record}
    row, errors = apply(default_mapping("hubspot", "contacts"), record)
    assert (row is None) == bool(errors)
    if row is not None:
        assert "@" in row["email"]


@SETTINGS
@given(status=st.integers(100, 599), body=st.one_of(json_values, st.binary(max_size=60)),
       headers=st.dictionaries(
           st.sampled_from(["Retry-After", "X-HubSpot-RateLimit-Interval-Milliseconds"]),
           st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8), max_size=2))
def test_any_error_response_maps_to_the_envelope(status: int, body: Any,
                                                 headers: dict[str, str]) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.Response(status, content=raw, headers=headers)
    try:
        parsed = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        parsed = None
    connector = HubSpotConnector(HubSpotSettings(client_id="c"), {})
    error = connector.error(Reply(response, parsed), "search")
    assert error.category in CATEGORIES
    assert error.retry_after is None or error.retry_after >= 0


@SETTINGS
@given(body=st.one_of(
    st.builds(lambda results: {"results": results, "paging": {"next": {"after": "10"}}},
              st.lists(records, max_size=5)),
    json_values, st.binary(max_size=80)))
async def test_any_page_body_is_records_or_a_provider_error(body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=raw))
    connector = HubSpotConnector(
        HubSpotSettings(base_url="https://provider.invalid", client_id="c", search_page_size=2),
        {"contacts": ["email"]})
    now = int(time.time() * 1000)
    async with httpx.AsyncClient(transport=transport) as client:
        for kind in ("full_refresh", "incremental"):
            request = PageRequest("contacts", kind, 0, now, None)  # type: ignore[arg-type]  # a SyncKind, as str
            try:
                page = await connector.fetch_page(client, "token", request)
            except ProviderError as exc:
                assert exc.category in CATEGORIES
            else:
                assert isinstance(page.records, list)


@SETTINGS
@given(raw=st.one_of(json_values, st.fixed_dictionaries(
    {"connection": st.text(max_size=300), "stream": st.text(max_size=120)},
    optional={"every": st.text(max_size=8), "full_refresh": json_values,
              "backfills": json_values, "window": json_values})))
def test_workflow_input_is_valid_or_a_clear_error(raw: Any) -> None:
    try:
        parsed = parse_input(raw, NOW_MS)
    except ValueError as exc:
        assert "expected" in str(exc) or "must be a JSON object" in str(exc)
    else:
        assert 1 <= len(parsed.connection) <= 200


@SETTINGS
@given(raw=st.one_of(json_values, st.fixed_dictionaries(
    {"since": st.one_of(st.text(max_size=30), st.datetimes().map(str))},
    optional={"until": st.one_of(st.text(max_size=30), st.datetimes().map(str))})))
def test_backfill_signal_is_valid_or_a_clear_error(raw: Any) -> None:
    try:
        window = parse_backfill(raw, NOW_MS)
    except ValueError as exc:
        assert "backfill" in str(exc) and len(str(exc)) <= 600
    else:
        assert window.until_ms is None or window.until_ms > window.since_ms
        assert 0 <= window.since_ms <= NOW_MS


ODD_NAMES = ["x" * 10_000, "\x00", "../../etc", "sync/a/b", "-leading-dash", "a b"]


@pytest.mark.parametrize("value", [*ODD_NAMES, "x" * 201])
def test_oversized_or_odd_connection_names_fail_fast(value: str) -> None:
    # A valid stream beside it: the connection's own rules must be what refuses the input.
    with pytest.raises(ValueError, match=r"\(connection: "):
        parse_input({"connection": value, "stream": "contacts"}, NOW_MS)


@pytest.mark.parametrize("value", [*ODD_NAMES, "x" * 101])
def test_oversized_or_odd_stream_names_fail_fast(value: str) -> None:
    with pytest.raises(ValueError, match=r"\(stream: "):
        parse_input({"connection": "acme", "stream": value}, NOW_MS)


def test_names_up_to_their_limits_are_accepted() -> None:
    parsed = parse_input({"connection": "a" * 200, "stream": "s" * 100}, NOW_MS)
    assert (len(parsed.connection), len(parsed.stream)) == (200, 100)
