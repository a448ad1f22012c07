"""Nothing secret in what is stored or shown (issue 14, item 3).

A token endpoint that echoes the posted form (client secret, refresh token) in its error, and a
next link that carries `access_token=`, through the real worker and Temporal dev server: the
workflow history (payloads decoded), `stream_state.last_error`, `status --json` and the worker's
log hold `***` where the secret was, never the secret.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sandbox.hostile_links import people_app, salesforce_app
from sandbox.rest_example import PeopleApi
from store import vault
from store.db import engine
from tests.support.cli import cli
from tests.support.history import readable, runs_of
from tests.support.polling import until
from tests.support.recorder import Recorder
from tests.support.stacks import Stack, wait_for_status

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _leaked(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret in text]


async def _status_json(temporal: WorkflowEnvironment) -> str:
    env = {"TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host}
    result = await asyncio.to_thread(cli, "status", "--json", env=env)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def _log(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "\n".join(str(vars(record)) for record in caplog.records)


async def _assert_shown_nowhere(stack: Stack, temporal: WorkflowEnvironment, history: str,
                                caplog: pytest.LogCaptureFixture, secrets: list[str]) -> None:
    last_error = stack.state().last_error
    assert "***" in last_error, last_error
    for where, text in (("history", history), ("stream_state.last_error", last_error),
                        ("status --json", await _status_json(temporal)),
                        ("worker log", _log(caplog))):
        assert not _leaked(text, secrets), f"a secret in the {where}"


async def test_a_token_endpoint_echoing_the_form_leaks_nothing(
    sf_stack: Any, temporal: WorkflowEnvironment, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    stack = sf_stack(app=partial(salesforce_app, echo_status=400), contacts=10)
    secrets = [stack.sandbox.client_secret, stack.sandbox.refresh_token]
    handle = await stack.start()
    status = await wait_for_status(handle, lambda s: s["state"] == "needs_reauthorization")
    assert "token refresh refused: invalid_grant: rejected request:" in status["blocked"]
    assert "client_secret=***" in status["blocked"], status["blocked"]
    history = "\n".join(readable(h) for h in await runs_of(stack, handle))
    assert "client_secret=***" in history
    await _assert_shown_nowhere(stack, temporal, history, caplog, secrets)


async def test_a_rest_token_endpoint_echoing_the_client_secret_leaks_nothing(
    rest_stack: Any, temporal: WorkflowEnvironment, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api = PeopleApi(people=10)
    stack = rest_stack("people", api, partial(people_app, elsewhere="http://127.0.0.1:9"),
                       auth={"type": "oauth2_client_credentials", "token_url": "/oauth/echo",
                             "client_id": "people-client"},
                       path="/v1/hostile/token-link", records_path="data")
    handle = await stack.start("people")
    status = await wait_for_status(handle, lambda s: s["state"] == "needs_reauthorization")
    assert "token refresh refused: invalid_client: rejected request:" in status["blocked"]
    history = readable(await handle.fetch_history())
    assert "client_secret=***" in history
    await _assert_shown_nowhere(stack, temporal, history, caplog, [api.api_key])


async def test_a_failing_token_endpoint_echoing_the_form_leaks_nothing(
    sf_stack: Any, temporal: WorkflowEnvironment, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # A 500 whose Salesforce-shaped error repeats the form: the provider's fault message path,
    # retried (server_error) while the test looks at what each failed attempt left behind.
    stack = sf_stack(app=partial(salesforce_app, echo_status=500), contacts=10)
    secrets = [stack.sandbox.client_secret, stack.sandbox.refresh_token]
    handle = await stack.start()
    await until(lambda: stack.state() is not None and stack.state().retries >= 2, 60,
                "two failed token refreshes")
    described = await handle.describe()
    pending = described.raw_description.pending_activities
    assert pending and "UNKNOWN_EXCEPTION: rejected request" in pending[0].last_failure.message
    history = "\n".join(str(activity) for activity in pending) + "\n" + readable(
        await handle.fetch_history())
    await _assert_shown_nowhere(stack, temporal, history, caplog, secrets)


async def test_a_next_link_carrying_the_access_token_is_stored_without_it(
    rest_stack: Any, temporal: WorkflowEnvironment, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api = PeopleApi(people=80)
    with Recorder() as recorder:
        stack = rest_stack(
            "people", api, partial(people_app, elsewhere=recorder.url),
            auth={"type": "oauth2_client_credentials", "token_url": "/oauth/token",
                  "client_id": "people-client"},
            path="/v1/hostile/token-link", records_path="data",
            pagination={"type": "next_link", "link_path": "links.next"},
            requests_per_second=1000)  # a fetch per page: every cursor goes to the history
        handle = await stack.start("people")
        summary = await asyncio.wait_for(handle.result(), 60)
    assert recorder.requests == []
    assert summary["pages"] == 4
    stack.assert_destination_equals_sandbox("people")  # the masked token was not sent back
    with engine().connect() as conn:
        token = vault.load(conn, stack.connection).secrets.access_token
    assert token
    history = "\n".join(readable(h) for h in await runs_of(stack, handle))
    assert "access_token=***" in history  # the cursor, as stored
    assert not _leaked(history, [token]), "the access token in the history"
    assert not _leaked(_log(caplog), [token]), "the access token in the worker log"
