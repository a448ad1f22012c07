"""Batching: what transform and upsert take at a time, and how far fetching runs ahead."""

from __future__ import annotations

from activities.models import PageRef
from workflows.batching import BATCH_PAGES, BATCH_RECORDS, Walk, run_pages


def page(page_id: int, fetched: int, run: int = 1) -> PageRef:
    ids = list(range(page_id, page_id + run)) if run > 1 else []
    return PageRef(page_id=page_id, page_no=page_id, fetched=fetched, next_cursor=None,
                   run_ids=ids)


def test_a_fetch_walks_a_run_of_pages_only_without_a_request_rate() -> None:
    assert run_pages(None) == BATCH_PAGES == 50
    assert run_pages(5.0) == 1


def test_a_batch_is_ready_at_fifty_pages_or_ten_thousand_records() -> None:
    assert not Walk([page(i, 10) for i in range(49)]).batch_ready()
    assert Walk([page(i, 10) for i in range(50)]).batch_ready()
    assert Walk([page(1, 10, run=50)]).batch_ready()
    assert not Walk([page(1, 9_999)]).batch_ready()
    assert Walk([page(1, 5_000), page(2, 5_000)]).batch_ready()


def test_take_batch_stops_before_the_page_that_would_overflow() -> None:
    walk = Walk([page(1, 6_000), page(2, 4_000), page(3, 1)])
    assert walk.take_batch() == [1, 2]
    assert walk.take_batch() == [3]
    walk = Walk([page(i, 1) for i in range(1, 53)])
    assert walk.take_batch() == list(range(1, 51))
    assert [r.page_id for r in walk.ready] == [51, 52]


def test_a_run_of_pages_stays_in_one_batch_even_over_the_limit() -> None:
    walk = Walk([page(1, BATCH_RECORDS + 1, run=3), page(4, 1)])
    assert walk.take_batch() == [1, 2, 3]
    assert walk.take_batch() == [4]


def test_empty_fetches_leave_the_queue_with_nothing_to_load() -> None:
    walk = Walk([page(1, 0), page(2, 3), page(3, 0)])
    assert walk.take_batch() == [2]
    assert walk.ready == []


def test_fetching_runs_at_most_two_batches_ahead() -> None:
    assert Walk([page(1, 2 * BATCH_RECORDS - 1)]).may_fetch()
    assert not Walk([page(1, BATCH_RECORDS), page(2, BATCH_RECORDS)]).may_fetch()
