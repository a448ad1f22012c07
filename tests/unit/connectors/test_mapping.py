"""Field mappings: transforms, rejections, and invalid mappings refused when loaded."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from connectors.mapping import Mapping, apply, default_mapping

RECORD = {
    "id": "42",
    "archived": False,
    "properties": {
        "email": "  Ada@Example.COM ",
        "firstname": "Ada",
        "lastname": "Lovelace",
        "phone": "(415) 555-0134",
        "company": "Analytical Engines",
        "lifecyclestage": "Customer",
        "createdate": "2025-01-02T03:04:05.678Z",
        "lastmodifieddate": "2025-02-03T04:05:06.789+01:00",
    },
}


def test_default_contacts_mapping_normalises_a_record() -> None:
    row, errors = apply(default_mapping("hubspot", "contacts"), RECORD)
    assert errors == []
    assert row == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+14155550134",
        "company": "Analytical Engines",
        "lifecycle_stage": "customer",
        "source_updated_at": datetime(2025, 2, 3, 3, 5, 6, 789000),  # converted to UTC
        "source_created_at": datetime(2025, 1, 2, 3, 4, 5, 678000),
        "external_id": "42",
        "archived": False,
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"email": "not-an-email"}, "email: not an email address"),
        ({"email": None}, "email: required but missing"),
        ({"lastmodifieddate": "last tuesday"}, "timestamps:"),
        # Epoch milliseconds past what the platform's clock can hold (found by the fuzz test).
        ({"lastmodifieddate": 9.2e21}, "timestamps: epoch milliseconds out of range"),
        ({"lastmodifieddate": 6.8e19}, "timestamps: epoch milliseconds out of range"),
        # Offsets that move year 1 or 9999 off the calendar once in UTC.
        ({"lastmodifieddate": "0001-01-01T00:00:00+05:00"}, "timestamps: out of range"),
        ({"lastmodifieddate": "9999-12-31T23:00:00-05:00"}, "timestamps: out of range"),
        # What the destination columns cannot hold (store/columns.py).
        ({"firstname": "Ada\x00"}, "first_name: contains a NUL character"),
        ({"company": "x" * 301}, "company: 301 characters, longer than the column holds"),
    ],
)
def test_invalid_records_are_rejected_with_reasons(change: dict, reason: str) -> None:
    record = {**RECORD, "properties": {**RECORD["properties"], **change}}
    row, errors = apply(default_mapping("hubspot", "contacts"), record)
    assert row is None
    assert any(reason in e for e in errors), errors


def test_an_id_the_destination_cannot_hold_rejects_the_record() -> None:
    row, errors = apply(default_mapping("hubspot", "contacts"), {**RECORD, "id": "4" * 201})
    assert row is None and errors == [
        "external_id: 201 characters, longer than the column holds "
        "(contacts.external_id is varchar(200))"]


def test_numbers_the_destination_cannot_hold_reject_the_record() -> None:
    record = {"Id": "001", "SystemModstamp": "2025-01-01T00:00:00.000+0000", "Name": "Acme",
              "NumberOfEmployees": 3_000_000_000, "AnnualRevenue": "$12,345,678,901,234,567.00"}
    row, errors = apply(default_mapping("salesforce", "companies"), record)
    assert row is None
    assert [e.split(" (")[0] for e in errors] == [
        "employees: 3000000000 is out of range",
        "annual_revenue: 12345678901234567.00 does not fit"]


def test_unparseable_phone_is_kept_not_lost() -> None:
    record = {**RECORD, "properties": {**RECORD["properties"], "phone": "ext. 12"}}
    row, _ = apply(default_mapping("hubspot", "contacts"), record)
    assert row is not None and row["phone"] == "ext. 12"


def test_transforms() -> None:
    mapping = Mapping.model_validate({
        "entity": "contacts", "updated_at": "u",
        "fields": {
            "email": {"source": "e", "transform": "email", "required": True},
            "first_name": {"source": ["a", "b"], "transform": "concat", "separator": "-"},
            "last_name": {"transform": "constant", "default": "X"},
            "lifecycle_stage": {"source": "s", "transform": "enum", "values": {"1": "lead"}},
            "company": {"source": "c", "default": "n/a"},
        },
    })
    row, errors = apply(mapping, {"id": 1, "u": "1700000000000", "e": "a@b.co", "a": "x",
                                  "b": "y", "s": "1"})
    assert errors == []
    assert row is not None
    assert (row["first_name"], row["last_name"], row["lifecycle_stage"], row["company"]) == (
        "x-y", "X", "lead", "n/a")
    assert row["source_updated_at"] == datetime(2023, 11, 14, 22, 13, 20)
    _, errors = apply(mapping, {"id": 1, "u": "1700000000000", "e": "a@b.co", "s": "9"})
    assert errors and "lifecycle_stage" in errors[0]


def test_number_transform() -> None:
    from connectors.mapping import FieldMapping, _apply_field

    spec = FieldMapping(source="v", transform="number")
    assert _apply_field(spec, {"v": "$1,234.56"}) == Decimal("1234.56")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"entity": "tickets", "updated_at": "u", "fields": {"x": {"source": "x"}}},
         "unknown entity"),
        ({"entity": "contacts", "updated_at": "u", "fields": {"emial": {"source": "e"}}},
         "unknown contacts fields ['emial']"),
        ({"entity": "contacts", "updated_at": "u", "fields": {"first_name": {"source": "f"}}},
         "contacts.email cannot be empty"),
        ({"entity": "contacts", "updated_at": "u",
          "fields": {"email": {"source": "e", "required": True, "transform": "upper"}}},
         "transform"),
        ({"entity": "contacts", "updated_at": "u",
          "fields": {"email": {"source": "e", "required": True, "transform": "enum"}}},
         "enum transform needs `values`"),
        # A default fills its column untransformed, so it must fit the column.
        ({"entity": "contacts", "updated_at": "u",
          "fields": {"email": {"source": "e", "required": True},
                     "phone": {"source": "p", "default": 5551234}}},
         "contacts.phone: the default does not fit: 5551234 is not text"),
        ({"entity": "deals", "updated_at": "u",
          "fields": {"name": {"source": "n", "required": True},
                     "currency": {"transform": "constant", "default": "EURO"}}},
         "deals.currency: the default does not fit: 4 characters, longer than"),
    ],
)
def test_invalid_mappings_are_refused_when_loaded(document: dict, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Mapping.model_validate(document)
    assert message in str(info.value)
