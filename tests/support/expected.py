"""The canonical row each sandbox record must become, written out by hand.

Deliberately not through connectors.mapping: a mapping bug must show up as a difference
between these expectations and the destination. Each function reads the raw record as the
sandbox generates it (sandbox/hubspot_data.py, salesforce_state.py, rest_example.py) and says,
in plain code, what the default mapping promises; None means the record must be rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

Row = dict[str, Any]


def text(value: Any) -> str | None:
    """Blank or missing is NULL; surrounding whitespace is dropped."""
    if value is None:
        return None
    return str(value).strip() or None


def email(value: Any) -> str | None:
    """Lower-cased; None when it is not an address (one @, a local part, a dotted domain)."""
    address = (text(value) or "").lower()
    local, at, domain = address.partition("@")
    if not (at and local and "." in domain.strip(".") and "@" not in domain
            and " " not in address):
        return None
    return address


def e164(value: Any, country_code: str = "1") -> str | None:
    """The sandboxes' phone styles: "+44 20 7946 0100" keeps its country, "(415) 555-0100",
    "415.555.0100" and "4155550100" are North American numbers."""
    raw = text(value)
    if raw is None:
        return None
    digits = "".join(c for c in raw if c.isdigit())
    return f"+{digits}" if raw.startswith("+") else f"+{country_code}{digits}"


def utc(value: str) -> datetime:
    """Naive UTC from "2025-01-28T04:38:31.644Z", "2026-11-04T03:30:55.000+0000" or a date."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f%z",
                "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed
    raise AssertionError(f"the sandbox generated an unexpected timestamp {value!r}")


def hubspot_contact(record: dict[str, Any], record_times: bool = False) -> Row | None:
    """connectors/mappings/hubspot_contacts.json; `record_times`: the timestamps of the record
    itself (updatedAt/createdAt), as the declarative REST example reads them."""
    p = record["properties"]
    address = email(p.get("email"))
    if address is None:
        return None
    updated, created = ((record["updatedAt"], record["createdAt"]) if record_times
                        else (p["lastmodifieddate"], p["createdate"]))
    return {
        "external_id": record["id"], "email": address,
        "first_name": text(p.get("firstname")), "last_name": text(p.get("lastname")),
        "phone": e164(p.get("phone")), "company": text(p.get("company")),
        "lifecycle_stage": (text(p.get("lifecyclestage")) or "").lower() or None,
        "source_updated_at": utc(updated), "source_created_at": utc(created),
        "archived": record["archived"] is True,
    }


def _hubspot(record: dict[str, Any]) -> Row:
    """Companies and deals: `hs_lastmodifieddate` (contacts have `lastmodifieddate`)."""
    p = record["properties"]
    return {"external_id": record["id"], "source_updated_at": utc(p["hs_lastmodifieddate"]),
            "source_created_at": utc(p["createdate"]), "archived": record["archived"] is True}


def hubspot_company(record: dict[str, Any]) -> Row | None:
    """connectors/mappings/hubspot_companies.json."""
    p = record["properties"]
    if text(p.get("name")) is None:
        return None
    employees, revenue = text(p.get("numberofemployees")), text(p.get("annualrevenue"))
    return {**_hubspot(record), "name": text(p["name"]),
            "domain": (text(p.get("domain")) or "").lower() or None,
            "industry": text(p.get("industry")), "phone": e164(p.get("phone")),
            "employees": None if employees is None else int(employees),
            "annual_revenue": None if revenue is None else Decimal(revenue)}


def hubspot_deal(record: dict[str, Any]) -> Row | None:
    """connectors/mappings/hubspot_deals.json. The deal's company is an association (no deal
    property holds it): company_external_id is not the objects mapping's to promise."""
    p = record["properties"]
    if text(p.get("dealname")) is None:
        return None
    amount, close = text(p.get("amount")), text(p.get("closedate"))
    return {**_hubspot(record), "name": text(p["dealname"]),
            "amount": None if amount is None else Decimal(amount),
            "currency": text(p.get("deal_currency_code")), "stage": text(p.get("dealstage")),
            "pipeline": text(p.get("pipeline")),
            "close_date": None if close is None else utc(close)}


def _salesforce(record: dict[str, Any]) -> Row:
    return {"external_id": record["Id"], "source_updated_at": utc(record["SystemModstamp"]),
            "source_created_at": utc(record["CreatedDate"]),
            "archived": record["IsDeleted"] is True}


def salesforce_contact(record: dict[str, Any]) -> Row | None:
    address = email(record.get("Email"))
    if address is None:
        return None
    return {**_salesforce(record), "email": address, "first_name": text(record["FirstName"]),
            "last_name": text(record["LastName"]), "phone": e164(record["Phone"])}


def salesforce_account(record: dict[str, Any]) -> Row | None:
    if text(record.get("Name")) is None:
        return None
    employees, revenue = record["NumberOfEmployees"], record["AnnualRevenue"]
    return {**_salesforce(record), "name": text(record["Name"]),
            "domain": (text(record["Website"]) or "").lower() or None,
            "industry": text(record["Industry"]), "phone": e164(record["Phone"]),
            "employees": None if employees is None else int(employees),
            "annual_revenue": None if revenue is None else Decimal(str(revenue))}


DEAL_STAGES = {"Prospecting": "open", "Qualification": "open", "Proposal": "open",
               "Closed Won": "won", "Closed Lost": "lost"}


def salesforce_opportunity(record: dict[str, Any]) -> Row | None:
    if text(record.get("Name")) is None or record["StageName"] not in DEAL_STAGES:
        return None
    amount = record["Amount"]
    return {**_salesforce(record), "name": text(record["Name"]),
            "amount": None if amount is None else Decimal(str(amount)),
            "stage": DEAL_STAGES[record["StageName"]],
            "close_date": None if record["CloseDate"] is None else utc(record["CloseDate"]),
            "company_external_id": record["AccountId"]}


def person(record: dict[str, Any], free_text_email: bool = False) -> Row | None:
    """connectors/examples/people_api.toml; `free_text_email`: a mapping that keeps whatever
    the email field holds, lower-cased."""
    address = (text(record.get("email")) or "").lower() or None if free_text_email \
        else email(record.get("email"))
    if address is None:
        return None
    return {"external_id": str(record["id"]), "email": address,
            "first_name": text(record.get("full_name")), "phone": e164(record.get("phone")),
            "lifecycle_stage": "lead", "source_updated_at": utc(record["updated_at"]),
            "archived": False}
