"""The sandbox's v4 association batch read, as api-facts describes it."""

from __future__ import annotations

import pytest

from sandbox.hubspot_associations import AssociationGraph
from sandbox.hubspot_errors import ApiError


def test_batch_read_pages_per_record_and_is_undirected() -> None:
    graph = AssociationGraph()
    graph.page_size = 2
    for deal in ("7", "5", "6"):
        graph.associate("contacts", "1", "deals", deal)
    body = graph.batch_read("contacts", "deals", {"inputs": [{"id": "1"}, {"id": "2"}]})
    assert body["status"] == "COMPLETE"
    [result] = body["results"]  # "2" has none: not in the results
    assert result["from"] == {"id": "1"}
    assert [t["toObjectId"] for t in result["to"]] == [5, 6]
    assert result["to"][0]["associationTypes"] == [
        {"category": "HUBSPOT_DEFINED", "typeId": 4, "label": None}]
    after = result["paging"]["next"]["after"]
    rest = graph.batch_read("contacts", "deals", {"inputs": [{"id": "1", "after": after}]})
    assert [t["toObjectId"] for t in rest["results"][0]["to"]] == [7]
    assert "paging" not in rest["results"][0]
    # The other direction, with its own type id; a dissociation removes both.
    back = graph.batch_read("deals", "contacts", {"inputs": [{"id": "5"}]})
    assert back["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 3
    graph.dissociate("deals", "5", "contacts", "1")
    assert graph.current("contacts", "deals") == {("1", "6", 4), ("1", "7", 4)}


@pytest.mark.parametrize("body", [{"inputs": [{"id": str(i)} for i in range(101)]},
                                  {"inputs": "1"}, {}, {"inputs": [{"id": "x"}]},
                                  {"inputs": [{"id": "1", "after": "x"}]}])
def test_batch_read_refuses_what_hubspot_refuses(body: dict) -> None:
    with pytest.raises(ApiError) as refused:
        AssociationGraph().batch_read("contacts", "companies", body)
    assert refused.value.status == 400


def test_unknown_object_types() -> None:
    with pytest.raises(ApiError):
        AssociationGraph().batch_read("contacts", "tickets", {"inputs": []})
    with pytest.raises(ValueError):
        AssociationGraph().associate("contacts", "1", "contacts", "2")
