"""In-memory records of one HubSpot object type, indexed for id paging and last-modified ranges."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from infra.times import iso
from sandbox.hubspot_data import FIRST_ID, Properties

DATE_PROPERTIES = frozenset({"createdate", "lastmodifieddate", "hs_lastmodifieddate", "closedate"})


@dataclass(slots=True)
class Record:
    id: int
    properties: Properties
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None

    def to_json(self, names: Iterable[str]) -> dict[str, object]:
        body: dict[str, object] = {
            "id": str(self.id),
            "properties": {name: self.properties.get(name) for name in sorted(names)},
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.updated_ms),
            "archived": self.archived_ms is not None,
        }
        if self.archived_ms is not None:
            body["archivedAt"] = iso(self.archived_ms)
        return body


@dataclass
class ObjectStore:
    object_type: str
    lastmodified_property: str
    default_properties: tuple[str, ...]
    records: dict[int, Record] = field(default_factory=dict)
    # Ids only ever grow, so appending keeps this sorted for list paging.
    ids: list[int] = field(default_factory=list)
    # (last-modified ms, id) of live records: search range filters bisect this instead of scanning.
    by_modified: list[tuple[int, int]] = field(default_factory=list)
    property_names: set[str] = field(default_factory=set)
    # Bumped on every mutation so cached search results are never stale.
    version: int = 0

    @property
    def next_id(self) -> int:
        return self.ids[-1] + 1 if self.ids else FIRST_ID

    def add(
        self, object_id: int, properties: Properties, created_ms: int, updated_ms: int
    ) -> Record:
        record = self._put(object_id, properties, created_ms, updated_ms)
        insort(self.by_modified, (updated_ms, object_id))
        return record

    def load(self, rows: Iterable[tuple[int, Properties, int, int]]) -> None:
        """Bulk add, sorting the index once: per-record insort is quadratic at 100k records."""
        for object_id, properties, created_ms, updated_ms in rows:
            self._put(object_id, properties, created_ms, updated_ms)
            self.by_modified.append((updated_ms, object_id))
        self.by_modified.sort()

    def _put(
        self, object_id: int, properties: Properties, created_ms: int, updated_ms: int
    ) -> Record:
        properties = dict(properties)
        properties.update(self._system_properties(object_id, created_ms, updated_ms))
        record = Record(object_id, properties, created_ms, updated_ms)
        self.records[object_id] = record
        self.ids.append(object_id)
        self.property_names.update(properties)
        self.version += 1
        return record

    def touch(self, record: Record, updated_ms: int, changes: Properties) -> None:
        self._unindex(record)
        record.properties.update(changes)
        record.updated_ms = updated_ms
        record.properties[self.lastmodified_property] = iso(updated_ms)
        insort(self.by_modified, (updated_ms, record.id))
        self.property_names.update(changes)
        self.version += 1

    def archive(self, record: Record, archived_ms: int) -> None:
        self._unindex(record)
        record.archived_ms = archived_ms
        record.updated_ms = archived_ms
        self.version += 1

    def live(self, object_id: int) -> Record:
        record = self.records[object_id]
        if record.archived_ms is not None:
            raise KeyError(object_id)
        return record

    def page(self, after: int, limit: int, archived: bool) -> tuple[list[Record], int | None]:
        """Records in ascending id order from id `after`, plus the next page's first id, if any."""
        found: list[Record] = []
        for index in range(bisect_left(self.ids, after), len(self.ids)):
            record = self.records[self.ids[index]]
            if (record.archived_ms is not None) != archived:
                continue
            if len(found) == limit:
                return found, record.id
            found.append(record)
        return found, None

    def modified_between(self, low: int | None, high: int | None) -> Iterator[Record]:
        """Live records with low <= last-modified <= high, in (last-modified, id) order."""
        start = 0 if low is None else bisect_left(self.by_modified, (low, 0))
        stop = (
            len(self.by_modified) if high is None else bisect_left(self.by_modified, (high + 1, 0))
        )
        for index in range(start, stop):
            yield self.records[self.by_modified[index][1]]

    def _unindex(self, record: Record) -> None:
        index = bisect_left(self.by_modified, (record.updated_ms, record.id))
        del self.by_modified[index]

    def _system_properties(self, object_id: int, created_ms: int, updated_ms: int) -> Properties:
        return {
            "createdate": iso(created_ms),
            self.lastmodified_property: iso(updated_ms),
            "hs_object_id": str(object_id),
        }
