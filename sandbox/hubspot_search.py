"""POST .../objects/{type}/search (both versions): validation, filtering, sorting, paging."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from infra.times import parse_ms
from sandbox.hubspot_errors import ApiError
from sandbox.hubspot_store import DATE_PROPERTIES, ObjectStore, Record

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT = 200
MAX_RESULTS = 10_000  # documented cap: paging beyond it is a 400
RANGE_OPERATORS = frozenset({"EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"})
OPERATORS = RANGE_OPERATORS | {"NEQ", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"}

Value = int | str


def value_of(record: Record, name: str, lastmodified_property: str) -> Value | None:
    """Comparable value: dates and ids as ints, strings case-folded; blank means unset."""
    if name == lastmodified_property:
        return record.updated_ms
    if name == "createdate":
        return record.created_ms
    if name == "hs_object_id":
        return record.id
    raw = record.properties.get(name)
    if raw is None or raw == "":
        return None
    return parse_ms(raw) if name in DATE_PROPERTIES else raw.casefold()


def coerce(name: str, raw: Any) -> Value:
    try:
        if name in DATE_PROPERTIES:  # epoch-ms digits (documented) or ISO text (seen in the wild)
            return parse_ms(str(raw))
        if name == "hs_object_id":
            return int(str(raw))
    except ValueError:
        raise ApiError(
            400,
            f"Invalid value '{raw}' for property {name}.",
            errors=[
                {
                    "message": f"'{raw}' is not a valid value for {name}",
                    "code": "INVALID_FILTER_VALUE",
                }
            ],
        ) from None
    return str(raw).casefold()


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    operator: str
    value: Value | None = None
    high: Value | None = None
    values: frozenset[Value] = frozenset()

    def matches(self, value: Value | None) -> bool:
        op = self.operator
        if op == "HAS_PROPERTY":
            return value is not None
        if op == "NOT_HAS_PROPERTY":
            return value is None
        if op == "NEQ":
            return value != self.value
        if op == "NOT_IN":
            return value not in self.values
        if value is None:
            return False
        if op == "IN":
            return value in self.values
        bound = self.value
        if op == "EQ":
            return value == bound
        if op == "GT":
            return value > bound  # type: ignore[operator]  # one property, one type
        if op == "GTE":
            return value >= bound  # type: ignore[operator]  # one property, one type
        if op == "LT":
            return value < bound  # type: ignore[operator]  # one property, one type
        if op == "LTE":
            return value <= bound  # type: ignore[operator]  # one property, one type
        return bound <= value <= self.high  # type: ignore[operator]  # one type; BETWEEN is inclusive


def parse_filter(raw: Any) -> Filter:
    if not isinstance(raw, dict) or not isinstance(raw.get("propertyName"), str):
        raise ApiError(400, "Each filter needs a propertyName and an operator.")
    name, op = raw["propertyName"], raw.get("operator", "EQ")
    if op not in OPERATORS:
        raise ApiError(400, f"Operator {op} is not supported.")
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return Filter(name, op)
    if op in ("IN", "NOT_IN"):
        if not isinstance(raw.get("values"), list):
            raise ApiError(400, f"Operator {op} requires 'values'.")
        return Filter(name, op, values=frozenset(coerce(name, v) for v in raw["values"]))
    if raw.get("value") is None:
        raise ApiError(400, f"Operator {op} requires 'value'.")
    if op == "BETWEEN":
        if raw.get("highValue") is None:
            raise ApiError(400, "Operator BETWEEN requires 'highValue'.")
        return Filter(name, op, coerce(name, raw["value"]), coerce(name, raw["highValue"]))
    return Filter(name, op, coerce(name, raw["value"]))


def parse_sort(raw: Any) -> tuple[str | None, bool]:
    """(property, descending): docs show [{propertyName, direction}], the spec says str."""
    if raw is None or raw == []:
        return None, False
    if not isinstance(raw, list):
        raw = [raw]
    if len(raw) > 1:
        raise ApiError(400, "Only one sort is supported.")
    sort = raw[0]
    if isinstance(sort, str):
        return sort.lstrip("-"), sort.startswith("-")
    if not isinstance(sort, dict) or not isinstance(sort.get("propertyName"), str):
        raise ApiError(400, "Invalid sort.")
    direction = sort.get("direction", "ASCENDING")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ApiError(400, f"Invalid sort direction {direction}.")
    return sort["propertyName"], direction == "DESCENDING"


def parse_int(raw: Any, field: str, default: int) -> int:
    if raw is None:
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise ApiError(400, f"Invalid {field} '{raw}': must be an integer.") from None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    groups: tuple[tuple[Filter, ...], ...]
    sort_property: str | None
    descending: bool
    text: str
    properties: tuple[str, ...]
    limit: int
    offset: int

    @classmethod
    def parse(cls, body: Any) -> SearchQuery:
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object.")
        raw_groups = body.get("filterGroups") or []
        if not isinstance(raw_groups, list) or len(raw_groups) > MAX_GROUPS:
            raise ApiError(400, f"Too many filter groups: at most {MAX_GROUPS} are allowed.")
        groups = tuple(tuple(parse_filter(f) for f in _filters(g)) for g in raw_groups)
        if (
            any(len(g) > MAX_FILTERS_PER_GROUP for g in groups)
            or sum(map(len, groups)) > MAX_FILTERS
        ):
            raise ApiError(
                400,
                f"Too many filters: at most {MAX_FILTERS_PER_GROUP} per group "
                f"and {MAX_FILTERS} in total are allowed.",
            )
        limit = parse_int(body.get("limit"), "limit", 10)
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
        offset = parse_int(body.get("after"), "after", 0)
        if offset < 0:
            raise ApiError(400, f"Invalid after '{offset}'.")
        if offset >= MAX_RESULTS:
            raise ApiError(
                400,
                f"Requested results {offset} to {offset + limit}: "
                f"paging beyond {MAX_RESULTS} results is not supported.",
            )
        properties = body.get("properties") or []
        if not isinstance(properties, list):
            raise ApiError(400, "properties must be a list of property names.")
        return cls(
            groups,
            *parse_sort(body.get("sorts")),
            str(body.get("query") or "").casefold(),
            tuple(map(str, properties)),
            limit,
            offset,
        )


def _filters(group: Any) -> list[Any]:
    if not isinstance(group, dict) or not isinstance(group.get("filters", []), list):
        raise ApiError(400, "Each filter group needs a list of filters.")
    filters: list[Any] = group.get("filters", [])
    return filters


def _modified_bounds(group: tuple[Filter, ...], name: str) -> tuple[int | None, int | None]:
    """Inclusive last-modified bounds implied by a group, so the sorted index can be bisected."""
    low: int | None = None
    high: int | None = None
    for f in group:
        if f.name != name or f.operator not in RANGE_OPERATORS:
            continue
        lo, hi = f.value, f.high if f.operator == "BETWEEN" else f.value
        assert isinstance(lo, int) and isinstance(hi, int)
        if f.operator in ("GT", "GTE", "EQ", "BETWEEN"):
            lo = lo + 1 if f.operator == "GT" else lo
            low = lo if low is None else max(low, lo)
        if f.operator in ("LT", "LTE", "EQ", "BETWEEN"):
            hi = hi - 1 if f.operator == "LT" else hi
            high = hi if high is None else min(high, hi)
    return low, high


def matching_ids(store: ObjectStore, query: SearchQuery) -> list[int]:
    """Ids of every live match, sorted by the query's sort with ascending id breaking ties."""
    prop = store.lastmodified_property
    found: dict[int, Record] = {}
    for group in query.groups or ((),):
        for record in store.modified_between(*_modified_bounds(group, prop)):
            if all(f.matches(value_of(record, f.name, prop)) for f in group) and _text_matches(
                record, query.text
            ):
                found[record.id] = record
    ids = sorted(found)
    if query.sort_property is None:
        return ids
    keyed = [(value_of(found[i], query.sort_property, prop), i) for i in ids]
    present = [pair for pair in keyed if pair[0] is not None]
    # Stable sort over id-ordered input keeps ties in ascending id order in both directions.
    # Values of one property share a type; mypy sees the union of every property's.
    present.sort(key=lambda pair: pair[0], reverse=query.descending)  # type: ignore[arg-type,return-value]  # noqa: E501
    return [i for _, i in present] + [i for value, i in keyed if value is None]


def _text_matches(record: Record, text: str) -> bool:
    return not text or any(text in v.casefold() for v in record.properties.values() if v)


class SearchCache:
    """Matching ids of recent queries: paging re-runs one query; data rarely changes meanwhile."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()

    def matching_ids(self, store: ObjectStore, query: SearchQuery) -> list[int]:
        key = (
            store.object_type,
            store.version,
            query.groups,
            query.sort_property,
            query.descending,
            query.text,
        )
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        ids = self.entries[key] = matching_ids(store, query)
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return ids
