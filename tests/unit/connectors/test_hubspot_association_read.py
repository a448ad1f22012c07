"""The v4 association batch read's answers, as the connector reads them: paging, 207 errors,
bounds on what HubSpot sends."""

from __future__ import annotations

import pytest

from connectors.errors import ProviderError
from connectors.hubspot_associations import Association, Read, _parse


def _read(*ids: str) -> Read:
    return Read(found={i: [] for i in ids}, complete=set(ids))


def _to(to_id: int, type_id: int = 1, label: str | None = None) -> dict:
    return {"toObjectId": to_id, "associationTypes": [
        {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label}]}


def test_results_paging_and_ids_not_asked_about() -> None:
    read, seen = _read("1", "2", "3"), {}
    body = {"status": "COMPLETE", "results": [
        {"from": {"id": "1"}, "to": [_to(10), _to(11, 279, "x" * 500)],
         "paging": {"next": {"after": "a1"}}},
        {"from": {"id": "99"}, "to": [_to(12)]},  # not asked about: ignored
    ]}
    assert _parse(body, read, seen) == [{"id": "1", "after": "a1"}]
    assert read.found["1"][0] == Association("10", 1, "HUBSPOT_DEFINED", None)
    assert len(read.found["1"][1].label or "") == 200  # cut to its column
    assert read.found["2"] == [] and "2" in read.complete  # no associations: an empty set
    assert "99" not in read.found
    # The same cursor again: that record stops, incomplete (stored rows are kept).
    again = {"results": [{"from": {"id": "1"}, "to": [_to(13)],
                          "paging": {"next": {"after": "a1"}}}]}
    assert _parse(again, read, seen) == []
    assert "1" not in read.complete


def test_multi_status_errors() -> None:
    read = _read("1", "2", "3")
    body = {"status": "COMPLETE", "results": [], "numErrors": 2, "errors": [
        {"status": "error", "category": "OBJECT_NOT_FOUND",
         "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
         "context": {"fromObjectId": ["1"]}},
        {"status": "error", "category": "INTERNAL_ERROR", "context": {"fromObjectId": ["2"]}},
        "junk", {"context": "junk"},
    ]}
    assert _parse(body, read, {}) == []
    assert read.complete == {"1", "3"}  # "2" failed: not read, its stored rows stay


@pytest.mark.parametrize("body", [None, [], {"results": {}}, {"status": "COMPLETE"}])
def test_malformed_answers(body: object) -> None:
    with pytest.raises(ProviderError, match="malformed"):
        _parse(body, _read("1"), {})


def test_type_ids_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError):
        _parse({"results": [{"from": {"id": "1"}, "to": [_to(10, 2**40)]}]}, _read("1"), {})
