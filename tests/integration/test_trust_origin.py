"""Credentials go to the connection's origin only (issue 14, item 1; the run-time half of 2).

A hostile sandbox (sandbox/hostile_links.py) answers with next links, Link headers, redirects and
nextRecordsUrls that point at a second server on another port (tests/support/recorder.py). Through
the real worker and Temporal dev server, the sync stops with a non-retryable validation_error
that says where the link went, and the second server never sees a request.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from sandbox.hostile_links import people_app, salesforce_app
from sandbox.rest_example import PeopleApi
from tests.support.recorder import Recorder
from tests.support.stacks import Stack, wait_for_status

# The database plays no part in where requests go: one is enough.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NEXT_LINK = {"type": "next_link", "link_path": "links.next"}
AUTHS = {
    "api_key_header": None,  # people_api.toml's own: X-API-Key
    "api_key_query": {"type": "api_key", "name": "api_key", "location": "query"},
    "basic": {"type": "basic", "username": "tributary"},
    "bearer": {"type": "oauth2_client_credentials", "token_url": "/oauth/token",
               "client_id": "people-client"},
}


@pytest.fixture
def recorder() -> Any:
    with Recorder() as server:
        yield server


async def _blocked(stack: Stack, stream: str) -> str:
    handle = await stack.start(stream)
    status = await wait_for_status(handle, lambda s: s["blocked"] is not None)
    blocked: str = status["blocked"]
    return blocked


def _people(rest_stack: Any, recorder: Recorder, style: str, auth: str = "api_key_header",
            **changes: Any) -> tuple[Stack, PeopleApi]:
    api = PeopleApi(people=60)
    if AUTHS[auth] is not None:
        changes["auth"] = AUTHS[auth]
    changes.setdefault("records_path", "data")
    stack = rest_stack("people", api, partial(people_app, elsewhere=recorder.url),
                       path=f"/v1/hostile/{style}", **changes)
    return stack, api


@pytest.mark.parametrize(("style", "auth"), [
    ("next-link", "api_key_header"), ("next-link", "basic"),
    ("link-header", "api_key_query"), ("link-header", "bearer"),
])
async def test_a_link_to_another_origin_gets_no_credentials(
    rest_stack: Any, recorder: Recorder, style: str, auth: str,
) -> None:
    if style == "next-link":
        stack, api = _people(rest_stack, recorder, style, auth, pagination=NEXT_LINK)
    else:  # the body is the list itself
        stack, api = _people(rest_stack, recorder, style, auth, records_path="",
                             pagination={"type": "link_header"})
    blocked = await _blocked(stack, "people")
    assert blocked.startswith("validation_error: rest fetch page 1"), blocked
    assert f"leaves {stack.url} (it goes to {recorder.url})" in blocked, blocked
    assert "no request was made" in blocked
    assert recorder.requests == []
    assert stack.state("people").last_error.startswith("validation_error")


async def test_a_redirect_to_another_origin_is_not_followed(
    rest_stack: Any, recorder: Recorder,
) -> None:
    stack, _ = _people(rest_stack, recorder, "redirect", pagination=NEXT_LINK)
    blocked = await _blocked(stack, "people")
    assert blocked.startswith("validation_error: rest fetch page 0 HTTP 302"), blocked
    assert recorder.requests == []


async def test_an_unsupported_scheme_is_a_validation_error_not_retried(
    rest_stack: Any, recorder: Recorder,
) -> None:
    stack, _ = _people(rest_stack, recorder, "file-link", pagination=NEXT_LINK)
    blocked = await _blocked(stack, "people")
    assert blocked.startswith("validation_error: rest fetch page 1"), blocked
    assert "URL has scheme file: only http and https are supported" in blocked, blocked
    assert stack.state("people").retries == 0


@pytest.mark.parametrize("next_url", [
    ".evil.example/x",  # base_url + it: another host
    ":{port}/x",  # another port
    "@127.0.0.1:{port}/x",  # base_url becomes user info: the recorder's host and port
    "{recorder}/services/data/v62.0/query/01gX-200",  # another origin, spelled out
    "/services/oauth2/token",  # the same origin, but not the query API
])
async def test_a_salesforce_next_records_url_stays_under_services_data(
    sf_stack: Any, recorder: Recorder, next_url: str,
) -> None:
    next_url = next_url.format(port=recorder.server.port, recorder=recorder.url)
    stack = sf_stack(app=partial(salesforce_app, next_url=next_url), contacts=30)
    blocked = await _blocked(stack, "contacts")
    # Refused where it is read, with the batch that carried it: it never reaches the history.
    assert blocked.startswith("validation_error: salesforce query page 0"), blocked
    assert "nextRecordsUrl is not a path under /services/data/" in blocked, blocked
    assert recorder.requests == []
