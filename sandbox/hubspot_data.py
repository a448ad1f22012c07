"""Deterministic fake CRM data: property generators."""

from __future__ import annotations

import random

from infra.times import iso

# Fixed epoch for generated data so equal seeds give identical records regardless of wall clock.
BASE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
DAY_MS = 86_400_000
FIRST_ID = 1001

Properties = dict[str, str | None]

FIRST_NAMES = (
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Sophie",
    "Guido",
    "Hedy",
    "Edsger",
    "Karen",
    "Niklaus",
)
LAST_NAMES = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "McCarthy",
    "Perlman",
    "Berners-Lee",
    "Wilson",
    "van Rossum",
    "Lamarr",
    "Dijkstra",
)
COMPANIES = (
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Vandelay Industries",
    "Wonka",
)
DOMAINS = ("example.com", "example.org", "mail.test", "corp.example", "acme.test")
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
INDUSTRIES = (
    "COMPUTER_SOFTWARE",
    "RETAIL",
    "BANKING",
    "BIOTECHNOLOGY",
    "LOGISTICS_AND_SUPPLY_CHAIN",
)
DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "closedwon",
    "closedlost",
)
# A portal's company currency plus the others its deals were sold in.
CURRENCIES = ("USD", "USD", "EUR", "GBP")
INVALID_EMAILS = (
    "not-an-email",
    "jane.doe@",
    "@example.com",
    "john doe@example.com",
    "no-at-sign.example.com",
)


def phone(rng: random.Random) -> str | None:
    # Real CRMs hold phones in whatever format a human typed, plus blanks.
    style = rng.randrange(7)
    area, line = rng.randint(201, 989), rng.randint(100, 9999)
    if style == 0:
        return f"({area}) 555-{line:04d}"
    if style == 1:
        return f"+44 20 7946 {line % 1000:04d}"
    if style == 2:
        return f"{area}.555.{line:04d}"
    if style == 3:
        return f"+1 {area} 555 {line:04d}"
    if style == 4:
        return f"{area}555{line:04d}"
    return "" if style == 5 else None


def contact_properties(rng: random.Random, object_id: int, invalid: bool) -> Properties:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email: str | None = f"{first}.{last.replace(' ', '')}{object_id}@{rng.choice(DOMAINS)}".lower()
    if invalid:
        email = rng.choice(INVALID_EMAILS + (None,))
    return {
        "email": email,
        "firstname": first,
        "lastname": last,
        "phone": phone(rng),
        "company": rng.choice(COMPANIES),
        "lifecyclestage": rng.choice(LIFECYCLE_STAGES),
    }


def company_properties(rng: random.Random, object_id: int, invalid: bool) -> Properties:
    name = rng.choice(COMPANIES)
    return {
        "name": name,
        "domain": f"{name.split()[0].lower()}{object_id}.example.com",
        "industry": rng.choice(INDUSTRIES),
        "phone": phone(rng),
        # Number properties come back as strings, and are often unset.
        "numberofemployees": rng.choice((None, str(rng.randint(1, 5000)))),
        "annualrevenue": rng.choice((None, f"{rng.randint(1, 50_000) * 1000}",
                                     f"{rng.randint(1, 10**8)}.{rng.randint(0, 99):02d}")),
    }


def deal_properties(rng: random.Random, object_id: int, invalid: bool) -> Properties:
    return {
        "dealname": f"{rng.choice(COMPANIES)} deal {object_id}",
        "amount": str(rng.randint(1, 500) * 100),
        "dealstage": rng.choice(DEAL_STAGES),
        "pipeline": "default",
        "closedate": iso(BASE_MS + rng.randrange(365 * DAY_MS)),
        "deal_currency_code": rng.choice(CURRENCIES),
    }


def contact_change(rng: random.Random, properties: Properties) -> Properties:
    if rng.random() < 0.5:
        return {"firstname": rng.choice([n for n in FIRST_NAMES
                                         if n != properties.get("firstname")])}
    return {"phone": _new_phone(rng, properties.get("phone"))}


def company_change(rng: random.Random, properties: Properties) -> Properties:
    if rng.random() < 0.5:
        return {"industry": rng.choice([i for i in INDUSTRIES if i != properties.get("industry")])}
    return {"phone": _new_phone(rng, properties.get("phone"))}


def deal_change(rng: random.Random, properties: Properties) -> Properties:
    if rng.random() < 0.5:
        return {"dealstage": rng.choice([s for s in DEAL_STAGES
                                         if s != properties.get("dealstage")])}
    amount = properties.get("amount")
    new = amount
    while new == amount:
        new = str(rng.randint(1, 500) * 100)
    return {"amount": new}


def _new_phone(rng: random.Random, current: str | None) -> str | None:
    new = phone(rng)
    while new == current:
        new = phone(rng)
    return new


def timestamps(rng: random.Random, count: int, tie_groups: bool) -> list[tuple[int, int]]:
    """(created_ms, lastmodified_ms) per record; ids ascend with creation time like a real portal.

    Tie groups share one lastmodified millisecond, the case that breaks naive timestamp cursors.
    """
    created = sorted(BASE_MS + rng.randrange(180 * DAY_MS) for _ in range(count))
    modified = [c + rng.randrange(60 * DAY_MS) for c in created]
    if tie_groups and count >= 2:
        pool = list(range(count))
        rng.shuffle(pool)
        groups: list[list[int]] = []
        pos = 0
        if count >= 1000:
            big = rng.randint(250, 300)
            groups.append(pool[:big])
            pos = big
        while pos < count * 0.35:
            size = rng.randint(2, 50)
            groups.append(pool[pos : pos + size])
            pos += size
        for group in groups:
            # The max keeps lastmodified >= createdate for every member.
            shared = max(modified[i] for i in group)
            for i in group:
                modified[i] = shared
    return list(zip(created, modified, strict=True))
