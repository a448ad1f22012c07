"""Batching: which fetched pages transform and upsert take at a time, and how far fetching runs
ahead of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from activities.models import PageRef

# Transform and upsert take up to this many fetched pages / records at a time.
BATCH_PAGES = 50
BATCH_RECORDS = 10_000


def run_pages(requests_per_second: float | None) -> int:
    """Pages one fetch may walk. Where a request rate is set, each fetch is one provider call
    (which the server paces); without one, a fetch walks a run of pages, since one activity per
    page would cost more than the page itself."""
    return 1 if requests_per_second else BATCH_PAGES


@dataclass
class Walk:
    """A window's fetched pages waiting to be loaded, shared by its slices and its loader."""

    ready: list[PageRef] = field(default_factory=list)
    fetching: bool = True
    draining: bool = False  # stop fetching: this run continues as new

    def ready_records(self) -> int:
        return sum(r.fetched for r in self.ready)

    def may_fetch(self) -> bool:
        """Fetching runs at most two batches ahead of loading (staged pages wait in the DB)."""
        return self.ready_records() < 2 * BATCH_RECORDS

    def batch_ready(self) -> bool:
        return (sum(len(r.page_ids()) for r in self.ready) >= BATCH_PAGES
                or self.ready_records() >= BATCH_RECORDS)

    def take_batch(self) -> list[int]:
        """The ids of the next batch's pages (a fetch's run of pages stays in one batch)."""
        batch = [self.ready.pop(0)]
        pages, records = len(batch[0].page_ids()), batch[0].fetched
        while self.ready:
            pages += len(self.ready[0].page_ids())
            records += self.ready[0].fetched
            if pages > BATCH_PAGES or records > BATCH_RECORDS:
                break
            batch.append(self.ready.pop(0))
        # A fetch that found nothing has nothing to load.
        return [page_id for ref in batch if ref.fetched for page_id in ref.page_ids()]
