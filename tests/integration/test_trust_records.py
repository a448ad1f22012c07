"""Records the destination cannot hold are rejected at transform, and the window completes.

On PostgreSQL a NUL character, text longer than its column or a number beyond its column fails
the whole upsert statement: without the rule the batch was retried forever. SQLite would store
them: the same records are rejected there too. A page with values strict JSON readers refuse
(NaN, Infinity, 1e400, a lone surrogate) is read, and only those records are rejected. A
provider's error message with a NUL character is stored as well, so the failure it reports is
the one the stream shows.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from typer.testing import CliRunner

from sandbox import hostile_records
from sandbox.hostile_records import Raw
from sandbox.rest_example import PeopleApi
from starter.cli import app
from tests.support import expected
from tests.support.stacks import wait_for_status

runner = CliRunner()
# Account values the org holds and companies' columns (store/schema.py) cannot.
HOSTILE = {
    "nul": {"Name": "Acme\x00 Labs"},
    "too long": {"Industry": "Manufacturing" * 16},  # 208 characters; the column holds 200
    "numeric overflow": {"AnnualRevenue": 1.5e17},  # numeric(18, 2): less than 10^16
    "integer overflow": {"NumberOfEmployees": 3_000_000_000},  # integer: 32 bits
}
REASONS = {
    "nul": "name: contains a NUL character (\\x00) at position 4",
    "too long": "industry: 208 characters, longer than the column holds "
                "(companies.industry is varchar(200))",
    "numeric overflow": "annual_revenue: 1.5E+17 does not fit "
                        "(companies.annual_revenue is numeric(18, 2): less than 10^16)",
    "integer overflow": "employees: 3000000000 is out of range (companies.employees is integer",
}


async def test_records_the_columns_cannot_hold_are_rejected_and_the_rest_lands(
    sf_stack: Any,
) -> None:
    stack = sf_stack(contacts=0, accounts=300, opportunities=0)
    # In the middle of the window, so they share a batch with good records on either side.
    stamp = (int(time.time()) - 15 * 86_400) * 1000
    ids = {kind: stack.sandbox.create("Account", 1, stamp_ms=stamp, **values)[0]
           for kind, values in HOSTILE.items()}
    hostile = set(ids.values())
    stack.expect["companies"] = lambda record: (
        None if record["Id"] in hostile else expected.salesforce_account(record))

    summary = await stack.sync("companies")

    assert summary["pages"] >= 2 and summary["rejected"] == len(HOSTILE)
    assert summary["upserted"] == 300
    stack.assert_destination_equals_sandbox("companies")
    rejected = stack.rejected("companies")
    assert set(rejected) == hostile
    for kind, record_id in ids.items():
        assert rejected[record_id].startswith(REASONS[kind]), rejected[record_id]
    listed = runner.invoke(app, ["rejected", "list", "--connection", stack.connection, "--json"])
    assert listed.exit_code == 0, listed.output
    assert {r["external_id"]: r["error"] for r in json.loads(listed.output)} == rejected


async def test_a_provider_message_with_a_nul_character_parks_the_stream(rest_stack: Any) -> None:
    # The people API answers an unknown page style with a 404 that echoes it: "no style nu\x00ll".
    stack = rest_stack("people", PeopleApi(people=5), path="/v1/people/nu%00ll",
                       error_in_body={"path": "error.message", "message_path": "error.message"})
    handle = await stack.start("people")
    status = await wait_for_status(handle, lambda s: s["blocked"] is not None)
    assert status["blocked"].startswith("validation_error")
    assert "no style nu" in status["blocked"]
    state = stack.state("people")
    assert "no style nu\\x00ll" in state.last_error and state.retries == 0


COMPANIES = {"entity": "companies", "id": "id", "updated_at": "updated_at",
             "fields": {"name": {"source": "full_name", "required": True},
                        "employees": {"source": "headcount", "transform": "integer"},
                        "annual_revenue": {"source": "revenue", "transform": "number"}}}


async def test_a_page_strict_json_readers_refuse_is_read_and_its_bad_values_rejected(
    rest_stack: Any,
) -> None:
    api = PeopleApi(people=40)
    api.touch([3], headcount=12, revenue="$1,234.50")
    api.touch([5], revenue=float("nan"))
    api.touch([6], revenue=float("inf"))
    api.touch([7], headcount=Raw("1e400"))
    api.touch([8], full_name="Bad \ud800 surrogate")
    api.touch([9], revenue=Raw("123456789012345678901"))  # past 64 bits and numeric(18, 2)
    reasons = {"5": "annual_revenue: not a number: 'NaN'",
               "6": "annual_revenue: not a number: 'Infinity'",
               "7": "employees: not a number: '1e400'",
               "9": "annual_revenue: 1.2345678901234568E+20 does not fit"}
    stack = rest_stack("people", api, app=hostile_records.create_app,
                       path="/v1/people/lenient", mapping=COMPANIES)

    def company(record: dict[str, Any]) -> dict[str, Any] | None:
        if str(record["id"]) in reasons:
            return None
        return {"external_id": str(record["id"]),
                "name": record["full_name"].replace("\ud800", "\ufffd"),
                "employees": 12 if record["id"] == 3 else None,
                "annual_revenue": Decimal("1234.50") if record["id"] == 3 else None,
                "source_updated_at": expected.utc(record["updated_at"]), "archived": False}

    stack.expect["people"] = company
    summary = await stack.sync("people")
    assert summary["rejected"] == len(reasons) and summary["upserted"] == 40 - len(reasons)
    stack.assert_destination_equals_sandbox("people")
    rejected = stack.rejected("people")
    assert set(rejected) == set(reasons)
    for record_id, reason in reasons.items():
        assert rejected[record_id].startswith(reason), rejected[record_id]


async def test_a_cursor_value_that_cannot_be_read_rejects_its_record_not_the_page(
    rest_stack: Any,
) -> None:
    # No window parameters: the connector keeps the window's records itself, by their cursor.
    api = PeopleApi(people=30)
    stack = rest_stack("people", api, incremental=None, lookback_s=0)
    await stack.sync("people")
    before = stack.destination("people")
    api.touch([4], full_name="Renamed")
    api.touch([5], updated_at="soon")
    api.touch([6], updated_at="")
    unreadable = {"5", "6"}
    stack.expect["people"] = lambda record: (
        None if str(record["id"]) in unreadable else expected.person(record))

    await stack.sync("people")

    rejected = stack.rejected("people")
    assert set(rejected) == unreadable
    assert all(error.startswith("timestamps: ") for error in rejected.values()), rejected
    destination, rows = stack.destination("people"), stack.expected("people")
    assert set(destination) == set(rows) | unreadable
    for external_id, row in rows.items():
        assert {c: destination[external_id][c] for c in row} == row
    assert destination["4"]["first_name"] == "Renamed"
    assert all(destination[i] == before[i] for i in unreadable)  # their last readable version
