"""HubSpot associations end to end: read for each window's records through the v4 batch read
(batches of 100, a record's paging followed), removals archived when the records are next read,
and the periodic re-read catching a removal that did not touch the records."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from temporalio.testing import ActivityEnvironment

from activities.associations import reconcile_associations
from activities.models import StreamRef
from store.db import engine
from store.schema import association_reconciles, associations
from tests.support.polling import until


def _stored(stack: Any, to_type: str, archived: bool = False) -> set[tuple[str, str, int]]:
    with engine().connect() as conn:
        rows = conn.execute(select(associations).where(
            associations.c.connection == stack.connection,
            associations.c.from_entity == "contacts", associations.c.to_entity == to_type,
            associations.c.archived.is_(archived)))
        return {(r.from_external_id, r.to_external_id, r.type_id) for r in rows}


def _synced_at(stack: Any) -> dict[Any, Any]:
    with engine().connect() as conn:
        return {(r.from_external_id, r.to_external_id, r.to_entity): r.synced_at
                for r in conn.execute(select(associations).where(
                    associations.c.connection == stack.connection))}


def _assert_equal(stack: Any) -> None:
    for to_type in ("companies", "deals"):
        assert _stored(stack, to_type) == stack.sandbox.associations.current("contacts", to_type)


def _requests(stack: Any, to_type: str) -> int:
    endpoints: dict[str, int] = stack.sandbox.stats["endpoints"]
    path = stack.hubspot_paths.associations_batch_read("contacts", to_type)
    return endpoints.get(f"POST {path}", 0)


def _ids(stack: Any, object_type: str) -> list[str]:
    return [r["id"] for r in stack.sandbox.records(object_type)]


async def test_associations_created_and_removed_upstream_end_equal(make_stack: Any) -> None:
    stack = make_stack({"lookback_s": 0}, contacts=250, companies=30, deals=40, seed=11)
    graph = stack.sandbox.associations
    graph.page_size = 7  # one record's 40 deals take 6 answers
    contacts, companies, deals = (_ids(stack, t) for t in ("contacts", "companies", "deals"))
    for i, contact in enumerate(contacts):
        graph.associate("contacts", contact, "companies", companies[i % len(companies)])
    many = contacts[0]
    for deal in deals:
        graph.associate("contacts", many, "deals", deal)
    for i, contact in enumerate(contacts[1:80]):
        graph.associate("contacts", contact, "deals", deals[i % len(deals)])

    await stack.sync()
    _assert_equal(stack)
    # 250 records: 3 batch reads per object type, and 5 more for `many`'s deals.
    assert _requests(stack, "companies") == math.ceil(250 / 100) == 3
    assert _requests(stack, "deals") == 3 + 5

    # Upstream: one contact loses its company, another gains one, `many` loses 10 deals; the
    # three records change otherwise, so the next incremental window holds them.
    lost = (contacts[1], companies[1], 1)
    graph.dissociate("contacts", contacts[1], "companies", companies[1])
    graph.associate("contacts", contacts[2], "companies", companies[10])
    for deal in deals[:10]:
        graph.dissociate("contacts", many, "deals", deal)
    stack.sandbox.modify_contacts(ids=[contacts[1], contacts[2], many])
    stack.sandbox.reset_stats()

    await stack.sync()
    _assert_equal(stack)
    assert lost in _stored(stack, "companies", archived=True)
    assert {(many, d, 4) for d in deals[:10]} == _stored(stack, "deals", archived=True)
    assert _requests(stack, "companies") == 1  # 3 records: one batch read each
    assert _requests(stack, "deals") == 1 + 4  # 30 deals left: 5 answers

    # A re-read that finds the same writes nothing, synced_at included.
    before = _synced_at(stack)
    await stack.sync(full_refresh=True)
    _assert_equal(stack)
    assert _synced_at(stack) == before

    # A removed association that comes back is live again.
    graph.associate("contacts", contacts[1], "companies", companies[1])
    stack.sandbox.modify_contacts(ids=[contacts[1]])
    await stack.sync()
    _assert_equal(stack)
    assert lost not in _stored(stack, "companies", archived=True)


async def test_reconciliation_catches_a_removal_that_left_the_records_alone(
    make_stack: Any,
) -> None:
    stack = make_stack({"lookback_s": 0, "associations_reconcile_every_s": 1},
                       contacts=130, companies=5, seed=12)
    graph = stack.sandbox.associations
    contacts, companies = _ids(stack, "contacts"), _ids(stack, "companies")
    for i, contact in enumerate(contacts):
        graph.associate("contacts", contact, "companies", companies[i % len(companies)])
    await stack.sync()  # reads every record's associations, and starts the re-read's clock
    _assert_equal(stack)

    # Nothing about the contact changes: no incremental window will hold it again.
    graph.dissociate("contacts", contacts[7], "companies", companies[7 % 5])
    stack.sandbox.reset_stats()

    async def caught() -> bool:
        await stack.sync()
        return _stored(stack, "companies") == graph.current("contacts", "companies")

    await until(caught, 120, "the re-read to archive the removal")
    assert (contacts[7], companies[2], 1) in _stored(stack, "companies", archived=True)
    # The pass read all 130 records in batches of 100, both object types.
    assert _requests(stack, "companies") >= 2
    assert _requests(stack, "deals") >= 2


async def test_reconciliation_reads_every_record_in_bounded_runs(make_stack: Any) -> None:
    stack = make_stack(contacts=1100, companies=3, seed=13)
    graph = stack.sandbox.associations
    contacts, companies = _ids(stack, "contacts"), _ids(stack, "companies")
    for i, contact in enumerate(contacts):
        graph.associate("contacts", contact, "companies", companies[i % 3])
    await stack.sync()  # every record read, the clock started
    _assert_equal(stack)
    for i in (5, 600, 1099):  # in the first, a middle and the last run of 100 records
        graph.dissociate("contacts", contacts[i], "companies", companies[i % 3])
    with engine().begin() as conn:  # the last pass ended long ago
        conn.execute(update(association_reconciles).values(finished_at=datetime(2000, 1, 1)))
    stack.sandbox.reset_stats()

    env, ref, runs = ActivityEnvironment(), StreamRef(stack.connection, "contacts"), []
    while not runs or runs[-1].after is not None:
        runs.append(await env.run(reconcile_associations, ref))
        assert len(runs) <= 11
    assert [r.requests for r in runs] == [2] * 11  # 100 records each, both object types
    assert sum(r.archived for r in runs) == 3
    assert runs[0].after < runs[1].after  # type: ignore[operator]
    _assert_equal(stack)
    assert _requests(stack, "companies") == _requests(stack, "deals") == 11
    with engine().connect() as conn:
        state = conn.execute(select(association_reconciles)).one()
    assert state.cursor is None and state.finished_at > datetime(2000, 1, 1)
