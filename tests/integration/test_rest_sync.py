"""Declarative REST connections, synced through the real Temporal dev server, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.rest_example import PeopleApi
from tests.support.history import most_fetches_in_flight
from tests.support.stacks import wait_for_status

PAGINATIONS = {
    "cursor": ("/v1/people/cursor", "data",
               {"type": "cursor", "cursor_path": "meta.next_cursor", "param": "cursor"}),
    "next_link": ("/v1/people/next-link", "data",
                  {"type": "next_link", "link_path": "links.next"}),
    "link_header": ("/v1/people/link-header", "", {"type": "link_header"}),
    "offset": ("/v1/people/offset", "data", {"type": "offset", "limit": 20}),
    "page_number": ("/v1/people/pages", "data", {"type": "page_number", "size": 20}),
    "single_page": ("/v1/people/all", "data", {"type": "single_page"}),
}


async def test_hubspot_like_api_from_configuration_only(rest_stack: Any) -> None:
    stack = rest_stack("hubspot", contacts=430, seed=3)
    summary = await stack.sync("contacts")
    assert summary["pages"] == 5  # 100 per page through the body cursor
    stack.assert_destination_equals_sandbox("contacts")


@pytest.mark.parametrize("kind", sorted(PAGINATIONS))
async def test_each_pagination_kind_syncs_everything(rest_stack: Any, kind: str) -> None:
    api = PeopleApi(people=110)
    path, records_path, pagination = PAGINATIONS[kind]
    stack = rest_stack("people", api, path=path, records_path=records_path,
                       pagination=pagination)
    summary = await stack.sync("people")
    assert summary["pages"] >= (1 if kind == "single_page" else 5)
    stack.assert_destination_equals_sandbox("people")


async def test_incremental_window_reaches_the_api_as_parameters(rest_stack: Any) -> None:
    api = PeopleApi(people=90)
    stack = rest_stack("people", api, lookback_s=0)
    await stack.sync("people")
    api.touch([3, 40, 41], full_name="Renamed")
    summary = await stack.sync("people")
    assert summary["fetched"] <= 5  # the window was filtered by the API, not after the fact
    assert stack.destination("people")["40"]["first_name"] == "Renamed"
    stack.assert_destination_equals_sandbox("people")


async def test_full_refresh_from_start_date_in_parallel_slices(rest_stack: Any) -> None:
    seeded = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    api = PeopleApi(people=200, seed_time=seeded)  # two people per second from `seeded` on
    start = seeded + timedelta(seconds=50)
    stack = rest_stack("people", api, start_date=start.isoformat(), parallel_fetches=3)
    handle = await stack.start("people")
    await handle.result()
    expected = {k: v for k, v in stack.expected("people").items() if int(k) >= 100}
    assert sorted(stack.destination("people")) == sorted(expected)  # nothing before start_date
    assert most_fetches_in_flight(await handle.fetch_history()) == 3


@pytest.mark.parametrize(
    "auth", [{"type": "basic", "username": "tributary"},
             {"type": "oauth2_client_credentials", "token_url": "/oauth/token",
              "client_id": "people-client"}])
async def test_other_auth_kinds(rest_stack: Any, auth: dict[str, Any]) -> None:
    stack = rest_stack("people", PeopleApi(people=30), auth=auth)
    await stack.sync("people")
    stack.assert_destination_equals_sandbox("people")


async def test_a_looping_cursor_parks_the_stream_with_a_validation_error(rest_stack: Any) -> None:
    stack = rest_stack("people", PeopleApi(people=60), path="/v1/people/looping",
                       records_path="data", pagination=PAGINATIONS["cursor"][2])
    handle = await stack.start("people")
    status = await wait_for_status(handle, lambda s: s["blocked"] is not None)
    assert status["blocked"].startswith("validation_error")
    assert "pagination loop" in status["blocked"]
    assert status["window"]["pages"] <= 2  # stopped at once, not after spinning


async def test_an_error_in_a_200_body_is_retried_not_stored(rest_stack: Any) -> None:
    api = PeopleApi(people=30)
    stack = rest_stack("people", api, error_in_body={"path": "error.message",
                                                     "message_path": "error.message"})
    api.error_in_body_next = True
    await stack.sync("people")
    assert api.error_in_body_next is False
    stack.assert_destination_equals_sandbox("people")


def _fetch_activities(history: Any) -> int:
    return sum(1 for event in history.events
               if event.HasField("activity_task_scheduled_event_attributes")
               and event.activity_task_scheduled_event_attributes.activity_type.name
               == "fetch_page")


async def test_without_a_request_rate_one_fetch_walks_a_run_of_pages(rest_stack: Any) -> None:
    stack = rest_stack("people", PeopleApi(people=300))  # 12 pages of 25, one slice
    handle = await stack.start("people")
    summary = await handle.result()
    assert summary["pages"] == 12
    assert _fetch_activities(await handle.fetch_history()) == 1
    stack.assert_destination_equals_sandbox("people")


class _ShrinksWhenRetried(PeopleApi):
    """Fails one request mid-run; the retry finds fewer people, so a shorter run."""

    def __init__(self, fail_at: int, keep: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_at, self.keep = fail_at, keep

    def select(self, params: Any) -> list[dict[str, Any]]:
        if self.requests + 1 == self.fail_at:
            self.requests += 1
            with self._lock:
                for person_id in [p for p in self._people if p > self.keep]:
                    del self._people[person_id]
            raise RuntimeError("backend restarted")  # a 500: the run is retried
        return super().select(params)


async def test_a_retried_run_drops_the_pages_its_failed_attempt_staged(rest_stack: Any) -> None:
    # 1,100 people are 11 pages of 100: the first attempt stages pages 0-9 (1,000 records) and
    # fails on the 11th request; the retry walks only 8 pages (750 people are left).
    api = _ShrinksWhenRetried(fail_at=11, keep=750, people=1_100)
    stack = rest_stack("people", api, path="/v1/people/offset", records_path="data",
                       pagination={"type": "offset", "limit": 100})
    handle = await stack.start("people")
    summary = await handle.result()
    assert api.requests > 11 and summary["pages"] == 8
    status = await handle.query("status")
    assert status["last_window"]["pages"] == 8  # counted from what is staged
    assert status["last_window"]["upserted"] == 750
    stack.assert_destination_equals_sandbox("people")
