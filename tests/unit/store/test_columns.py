"""What a column can hold: the rules read from store/schema.py, and PostgreSQL agrees."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import JSON, Column, MetaData, Table, select
from sqlalchemy.exc import DBAPIError

from store import staging
from store.columns import fitted, refusal, refusals
from store.db import engine
from store.schema import companies, contacts, deals, rejected_records
from store.upsert import upsert_transformed

# (column, value, what the refusal says; None: the value fits)
CASES: list[tuple[Column[Any], Any, str | None]] = [
    (contacts.c.first_name, "x" * 200, None),
    (contacts.c.first_name, "é" * 200, None),  # characters, not bytes
    (contacts.c.first_name, "x" * 201,
     "201 characters, longer than the column holds (contacts.first_name is varchar(200))"),
    (deals.c.currency, "EURO", "4 characters"),
    (contacts.c.email, "a\x00b@x.io", "contains a NUL character (\\x00) at position 1"),
    (contacts.c.external_id, "9" * 201, "contacts.external_id is varchar(200)"),
    (contacts.c.first_name, 5, "5 is not text"),
    (companies.c.employees, 2**31 - 1, None),
    (companies.c.employees, -(2**31), None),
    (companies.c.employees, 2**31, "2147483648 is out of range (companies.employees is integer: "
                                    "-2147483648 to 2147483647)"),
    (companies.c.employees, -(2**31) - 1, "out of range"),
    (companies.c.employees, 10**30, "out of range"),  # beyond 64 bits: no JSON can carry it
    (companies.c.employees, "12", "'12' is not a whole number"),
    (companies.c.employees, True, "True is not a whole number"),
    (companies.c.annual_revenue, Decimal("9999999999999999.99"), None),
    (companies.c.annual_revenue, Decimal("9999999999999999.994"), None),  # rounds down
    (companies.c.annual_revenue, Decimal("-9999999999999999.994"), None),
    (companies.c.annual_revenue, Decimal("0.001"), None),
    (companies.c.annual_revenue, 12, None),
    (companies.c.annual_revenue, 12.5, None),
    (companies.c.annual_revenue, Decimal("9999999999999999.995"),  # rounds up, past the limit
     "does not fit (companies.annual_revenue is numeric(18, 2): less than 10^16)"),
    (companies.c.annual_revenue, Decimal("-9999999999999999.995"), "does not fit"),
    (companies.c.annual_revenue, Decimal("1E+16"), "1E+16 does not fit"),
    (companies.c.annual_revenue, Decimal("1" * 5000), "… (5000 characters) does not fit"),
    (companies.c.annual_revenue, Decimal("NaN"), "NaN is not a finite number"),
    (companies.c.annual_revenue, float("inf"), "inf is not a finite number"),
    (companies.c.annual_revenue, "12.50", "'12.50' is not a number"),
    (companies.c.archived, 1, "1 is not true or false"),
    (companies.c.source_updated_at, datetime(1, 1, 1), None),
    (companies.c.source_updated_at, datetime(9999, 12, 31, 23, 59, 59, 999999), None),
    (companies.c.source_updated_at, "2025-01-01", "'2025-01-01' is not a timestamp"),
]


@pytest.mark.parametrize(("column", "value", "reason"), CASES,
                         ids=[f"{c.name}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_a_value_fits_its_column_or_says_why_not(column: Column[Any], value: Any,
                                                   reason: str | None) -> None:
    found = refusal(column, value)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found, found
        assert "\x00" not in found and len(found) < 200


def test_a_row_lists_every_value_that_does_not_fit_and_none_fits_any_column() -> None:
    row = {"name": "x" * 301, "domain": None, "employees": 2**40, "annual_revenue": None,
           "external_id": "1"}
    assert [r.split(":")[0] for r in refusals(companies, row)] == ["name", "employees"]


# The boundaries PostgreSQL itself draws: what fits, and what it refuses with a failed
# statement. (Not the type checks: PostgreSQL would cast 5 to '5' or store NaN where SQLite
# does otherwise, so those are refused for both alike; nor numbers JSON cannot carry.)
LIMITS = ("characters", "NUL", "out of range", "does not fit")
EDGES = [(column, value, reason) for column, value, reason in CASES
         if (reason is None or any(word in reason for word in LIMITS))
         and not (isinstance(value, int) and abs(value) >= 2**63)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_refuses_exactly_what_the_rules_refuse(database_url: str) -> None:
    base = {"external_id": "x", "name": "Acme", "email": "a@x.io",
            "source_updated_at": datetime(2025, 1, 1), "archived": False}
    tables = {table.name: table for table in (companies, contacts, deals)}
    disagreements = []
    for column, value, _ in EDGES:
        table = tables[column.table.name]
        row = {k: v for k, v in base.items() if k in table.c} | {str(column.name): value}
        with engine().connect() as conn:
            page_id = staging.stage(conn, window_id="w", page_no=0, connection="c",
                                    stream="s", raw="[]", fetched=1)
            staging.save_transformed(conn, page_id, staging.serialize_rows([row]), 1, 0)
            try:
                upsert_transformed(conn, table, [page_id], connection="c", stream="s",
                                   synced_at=datetime(2026, 1, 1))
                stored = True
            except DBAPIError:
                stored = False
            conn.rollback()
        if stored != (refusal(column, value) is None):
            disagreements.append((column.name, value, stored))
    assert disagreements == []


def test_fitted_text_is_storable_and_stays_distinct() -> None:
    column = rejected_records.c.external_id
    assert fitted(column, "001A") == "001A"
    assert fitted(column, "a\x00b") == "a\\x00b"
    long_a, long_b = fitted(column, "9" * 300 + "a"), fitted(column, "9" * 300 + "b")
    assert len(long_a) == len(long_b) == 200 and long_a != long_b
    assert long_a.startswith("9" * 150)
    assert fitted(rejected_records.c.error, "e" * 5000) == "e" * 5000  # text: no length


def test_a_record_rejected_for_its_id_is_stored_with_a_storable_id(database_url: str) -> None:
    bad = ["a\x00b", "9" * 300]
    with engine().begin() as conn:
        staging.reject(conn, connection="c", stream="s", window_id="w", accepted_ids=[],
                       rejected=[(i, f"external_id: {i}", {"id": i}) for i in bad])
        stored = {r.external_id: r for r in conn.execute(select(rejected_records))}
    assert set(stored) == {fitted(rejected_records.c.external_id, i) for i in bad}
    assert "a\\x00b" in stored and stored["a\\x00b"].error == "external_id: a\\x00b"
    assert {r.payload for r in stored.values()} >= {'{"id": "a\\u0000b"}'}


def test_a_column_type_without_a_rule_is_refused_loudly() -> None:
    # A JSON column (the design's `custom` one) needs its own rule: PostgreSQL's jsonb refuses
    # \u0000 anywhere inside the value.
    table = Table("with_custom", MetaData(), Column("custom", JSON))
    with pytest.raises(TypeError, match="no rule for what with_custom.custom is json"):
        refusals(table, {"custom": {"a": 1}})
