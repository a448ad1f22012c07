"""Mapping transforms: time zones, amounts, text clean-up, enums, concatenation, constants."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.mapping import FieldMapping, Mapping, _apply_field, apply


def field(record: dict[str, Any], **spec: Any) -> Any:
    return _apply_field(FieldMapping(**spec), record)


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("2025-03-01T09:30:00", {"timezone": "America/New_York"}, datetime(2025, 3, 1, 14, 30)),
        ("2025-07-01T09:30:00", {"timezone": "America/New_York"}, datetime(2025, 7, 1, 13, 30)),
        ("2025-07-01T09:30:00+02:00", {"timezone": "America/New_York"},
         datetime(2025, 7, 1, 7, 30)),  # an explicit offset wins over the configured zone
        ("01/02/2025 17:00", {"format": "%m/%d/%Y %H:%M", "timezone": "Europe/Paris"},
         datetime(2025, 1, 2, 16, 0)),
        ("2013-05-20T20:49:32.000+0000", {}, datetime(2013, 5, 20, 20, 49, 32)),
        ("1700000000000", {}, datetime(2023, 11, 14, 22, 13, 20)),
    ],
)
def test_datetimes_become_naive_utc(value: str, spec: dict[str, Any], expected: datetime) -> None:
    assert field({"v": value}, source="v", transform="datetime", **spec) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("$1,234.56", Decimal("1234.56")), ("USD 1,234.56", Decimal("1234.56")),
     ("(1,234.56)", Decimal("-1234.56")), ("€12", Decimal("12")), ("-3.5", Decimal("-3.5")),
     (1234.5, Decimal("1234.5"))],
)
def test_numbers_and_amounts(value: Any, expected: Decimal) -> None:
    assert field({"v": value}, source="v", transform="number") == expected


@pytest.mark.parametrize("value", ["12abc", "1,23", "$", "1.2.3"])
def test_not_a_number_is_an_error(value: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        field({"v": value}, source="v", transform="number")


def test_text_transforms_enum_concat_constant_integer() -> None:
    record = {"a": "  Mixed Case  ", "f": "Ada", "l": " Lovelace", "s": "Closed Won", "n": "1,200"}
    assert field(record, source="a", transform="trim") == "Mixed Case"
    assert field(record, source="a", transform="lower") == "mixed case"
    assert field(record, source="s", transform="enum", values={"Closed Won": "won"}) == "won"
    assert field(record, source=["f", "missing", "l"], transform="concat") == "Ada Lovelace"
    assert field(record, transform="constant", default="crm") == "crm"
    assert field(record, source="n", transform="integer") == 1200
    with pytest.raises(ValueError, match="is not one of"):
        field(record, source="a", transform="enum", values={"x": "y"})
    with pytest.raises(ValueError, match="not a whole number"):
        field({"n": "1.5"}, source="n", transform="integer")


def test_companies_and_deals_are_canonical_entities() -> None:
    deal = Mapping.model_validate({
        "entity": "deals", "updated_at": "u",
        "fields": {"name": {"source": "n", "required": True},
                   "amount": {"source": "a", "transform": "number"},
                   "currency": {"transform": "constant", "default": "USD"}}})
    row, errors = apply(deal, {"id": "9", "u": "2025-01-01T00:00:00Z", "n": "Big", "a": "$5"})
    assert errors == [] and row is not None
    assert (row["amount"], row["currency"]) == (Decimal("5"), "USD")
    with pytest.raises(ValidationError, match="companies.name cannot be empty"):
        Mapping.model_validate({"entity": "companies", "updated_at": "u",
                                "fields": {"domain": {"source": "d"}}})
