"""read_associations and reconcile_associations: the associations of a window's records, and
the periodic re-read of every record's, from HubSpot's v4 batch read into `associations`.

The records come from the database (the window's transformed pages, or the stream's table),
never through workflow history. One activity reads 100 records (a window's: for one object type,
one request as fetch_page makes; the re-read's: every associated type, one request each), plus
the paging of a record with many, and stores them in one transaction; the workflow calls again
from where it stopped. Each request takes the
connection's pace (infra.limiter) first: the Temporal server paces activities, not requests.
"""

from __future__ import annotations

import httpx
from sqlalchemy import Connection
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.fetch import credentials, paced
from activities.models import AssociationResult, AssociationTask, StreamRef
from connectors import hubspot_api as api
from connectors.errors import NON_RETRYABLE, ProviderError
from connectors.http import redacted
from connectors.hubspot import HubSpotConnector
from connectors.hubspot_associations import Read, batch_read
from infra import http, logs
from infra.configured import connector_for
from infra.times import utcnow
from infra.transactions import Transactions
from store import associations as store
from store import sync_state

# Records per reconciliation activity: one batch read per associated object type (plus
# paging), so a retry after a 429 redoes little.
RUN_IDS = api.ASSOCIATION_BATCH


def _window_ids(conn: Connection, task: AssociationTask) -> list[str]:
    ids = store.loaded_ids(conn, task.page_ids)
    return [i for i in ids if task.after is None or i > task.after]


def _stream_ids(conn: Connection, ref: StreamRef) -> tuple[list[str] | None, str | None]:
    """The pass's next records, or None when there is no pass yet (its clock starts now)."""
    state = store.reconcile_state(conn, ref.connection, ref.stream)
    if state is None:
        return None, None
    _, mappings, _ = connector_for(conn, ref.connection)
    cursor = state.cursor
    return store.stream_ids(conn, mappings[ref.stream].table, ref.connection, ref.stream,
                            cursor, RUN_IDS + 1), cursor


async def _read(db: Transactions, client: httpx.AsyncClient, ref: StreamRef,
                ids: list[str], to_types: tuple[str, ...]) -> dict[str, Read]:
    """The batch reads of `ids` (at most RUN_IDS) for each of `to_types`."""
    connector, token, version = await db.read(credentials, ref.connection)
    logs.bind(provider=connector.provider)
    if not isinstance(connector, HubSpotConnector):  # describe offers associations to no other
        raise ApplicationError(f"{connector.provider} connections have no associations",
                               type="invalid_input", non_retryable=True)

    async def pace() -> None:
        await paced(ref.connection, connector.settings.requests_per_second, each=True)

    reads: dict[str, Read] = {}
    try:
        for to_type in to_types:
            total = reads[to_type] = Read()
            for start in range(0, len(ids), api.ASSOCIATION_BATCH):
                part = await batch_read(connector, client, token, ref.stream, to_type,
                                        ids[start:start + api.ASSOCIATION_BATCH], pace)
                total.found.update(part.found)
                total.complete |= part.complete
                total.requests += part.requests
    except ProviderError as error:
        exc = redacted(error, (token,))
        exc.credential_version = version
        await db.write(sync_state.record_error, ref.connection, ref.stream, exc.category,
                       str(exc), exc.category not in NON_RETRYABLE, exc.retry_after)
        raise exc.to_application_error() from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProviderError("server_error", f"malformed response: {type(exc).__name__}",
                            api.PROVIDER, "associations").to_application_error() from None
    return reads


def _save(conn: Connection, ref: StreamRef, reads: dict[str, Read]) -> tuple[int, int]:
    found = archived = 0
    now = utcnow()
    for to_type, read in reads.items():
        rows = {from_id: [(a.to_id, a.type_id, a.category, a.label) for a in items]
                for from_id, items in read.found.items()}
        f, a = store.save(conn, ref.connection, ref.stream, to_type, rows, read.complete, now)
        found, archived = found + f, archived + a
    return found, archived


def _result(reads: dict[str, Read], saved: tuple[int, int], after: str | None
            ) -> AssociationResult:
    return AssociationResult(after, sum(r.requests for r in reads.values()), *saved)


@activity.defn
async def read_associations(task: AssociationTask) -> AssociationResult:
    return await read_window(Transactions.configured(), http.client(), task)


async def read_window(db: Transactions, client: httpx.AsyncClient,
                      task: AssociationTask) -> AssociationResult:
    """read_associations on the given database and HTTP client."""
    if task.to_type not in api.ASSOCIATED.get(task.stream, ()):
        raise ApplicationError(f"{task.stream} have no associations to {task.to_type!r}",
                               type="invalid_input", non_retryable=True)
    ids = await db.read(_window_ids, task)
    run, rest = ids[:api.ASSOCIATION_BATCH], ids[api.ASSOCIATION_BATCH:]
    ref = StreamRef(task.connection, task.stream)
    reads = await _read(db, client, ref, run, (task.to_type,)) if run else {}
    saved = await db.write(_save, ref, reads) if reads else (0, 0)
    return _result(reads, saved, run[-1] if rest else None)


@activity.defn
async def reconcile_associations(ref: StreamRef) -> AssociationResult:
    return await reconcile(Transactions.configured(), http.client(), ref)


async def reconcile(db: Transactions, client: httpx.AsyncClient,
                    ref: StreamRef) -> AssociationResult:
    """reconcile_associations on the given database and HTTP client: the pass's next
    RUN_IDS records; `after` None when the pass has ended."""
    ids, _ = await db.read(_stream_ids, ref)
    if ids is None:  # no pass yet: start the clock
        await db.write(store.reconcile_progress, ref.connection, ref.stream, None, utcnow())
        return AssociationResult(None, 0, 0, 0)
    run, more = ids[:RUN_IDS], len(ids) > RUN_IDS
    reads = await _read(db, client, ref, run, api.ASSOCIATED[ref.stream]) if run else {}
    cursor = run[-1] if more else None

    def save(conn: Connection) -> tuple[int, int]:
        saved = _save(conn, ref, reads)
        store.reconcile_progress(conn, ref.connection, ref.stream, cursor, utcnow())
        return saved

    saved = await db.write(save)
    return _result(reads, saved, cursor)
