"""SalesforceSandbox: a simulated org (Contact, Account, Opportunity), its OAuth and query engine.

Follows /work/shared/api-facts.md: SOQL through query/queryAll with query locators and
`nextRecordsUrl`, `SystemModstamp` at second precision (so ties are common), soft-deleted records
visible to queryAll only, JSON-array errors, `Sforce-Limit-Info`, access tokens that live for the
session timeout, opt-in refresh-token rotation and the JWT bearer flow. Every public method takes
the lock: tests drive the sandbox from their own thread while uvicorn serves on another.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from infra import times
from sandbox.hubspot_limits import FAULT_KINDS, FAULT_TARGETS, Fault, PendingFault
from sandbox.salesforce_soql import SoqlError, parse

API_VERSION = "v62.0"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
PREFIXES = {"Contact": "003", "Account": "001", "Opportunity": "006"}
DATETIME_FIELDS = {"CreatedDate", "LastModifiedDate", "SystemModstamp"}
SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")
FIELDS = {
    "Contact": (*SYSTEM_FIELDS, "FirstName", "LastName", "Email", "Phone", "Title", "AccountId"),
    "Account": (*SYSTEM_FIELDS, "Name", "Website", "Industry", "Phone", "NumberOfEmployees",
                "AnnualRevenue"),
    "Opportunity": (*SYSTEM_FIELDS, "Name", "Amount", "StageName", "CloseDate", "AccountId"),
}
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
INDUSTRIES = ("Technology", "Finance", "Healthcare", "Retail", "Energy")
STAGES = ("Prospecting", "Qualification", "Proposal", "Closed Won", "Closed Lost")


class SalesforceError(Exception):
    """A request the API refuses: an HTTP status and the JSON-array body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = [{"message": message, "errorCode": code, "fields": []}]


def iso(ms: int) -> str:
    """Salesforce's own rendering: 2013-05-20T20:49:32.000+0000."""
    return times.iso(ms).removesuffix("Z") + "+0000"


@dataclass
class _Locator:
    records: list[dict[str, Any]]
    fields: list[str]
    batch: int


def _nulls_last(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    """ORDER BY `name`'s sort key."""
    return lambda record: (record.get(name) is None, record.get(name))


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SalesforceSandbox:
    def __init__(
        self,
        seed: int = 1,
        contacts: int = 500,
        accounts: int = 100,
        opportunities: int = 100,
        invalid_contacts: int = 0,
        session_timeout_s: float = 7200,
        rotate_refresh_tokens: bool = False,
        daily_limit: int = 100_000,
        username: str = "integration@acme.example",
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(f"{seed}:salesforce")
        self.session_timeout_s = session_timeout_s
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.daily_limit = daily_limit
        self.username = username
        self.client_id = f"3MVG9{secrets.token_hex(12)}"
        self.client_secret = secrets.token_hex(16)
        self.refresh_token = self._new_refresh_token()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        self._public_key = key.public_key()
        self._sessions: dict[str, float] = {}
        self._api_used = 0
        self._ids = {name: itertools.count(1) for name in PREFIXES}
        self._records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PREFIXES}
        self._locators: dict[str, _Locator] = {}
        # Locators that die after one batch: every nextRecordsUrl answers INVALID_QUERY_LOCATOR,
        # as after the 2-day (older APIs: 15-minute) expiry.
        self.single_use_locators = False
        self._faults: dict[str, deque[PendingFault]] = {t: deque() for t in FAULT_TARGETS}
        self.stats: dict[str, Any] = {"requests": 0, "token_requests": 0, "refreshes_ok": 0,
                                      "invalid_grant": 0, "statuses": {}}
        self._last_stamp = 0
        base = int(time.time()) * 1000 - 30 * 86_400_000
        for sobject, count in (("Account", accounts), ("Contact", contacts),
                               ("Opportunity", opportunities)):
            for i in range(count):
                # Second precision and three records per second: ties everywhere.
                stamp = base + (i // 3) * 1000
                self._add(sobject, stamp, invalid=sobject == "Contact" and i < invalid_contacts)

    # ----- data -----

    def _new_refresh_token(self) -> str:
        return f"5Aep861{secrets.token_urlsafe(32)}"

    def _next_id(self, sobject: str) -> str:
        return f"{PREFIXES[sobject]}{next(self._ids[sobject]):012d}AAA"

    def _values(self, sobject: str, invalid: bool) -> dict[str, Any]:
        rng = self._rng
        if sobject == "Contact":
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}{rng.randint(1, 10**6)}@example.com".lower()
            return {"FirstName": first, "LastName": last,
                    "Email": "not-an-email" if invalid else email,
                    "Phone": f"(415) 555-{rng.randint(1000, 9999)}", "Title": "Engineer",
                    "AccountId": None}
        if sobject == "Account":
            name = f"{rng.choice(LAST)} {rng.choice(('Labs', 'Systems', 'Works'))}"
            return {"Name": name, "Website": f"www.{name.split()[0].lower()}.example",
                    "Industry": rng.choice(INDUSTRIES), "Phone": "+1 415 555 0100",
                    "NumberOfEmployees": rng.randint(1, 5000),
                    "AnnualRevenue": float(rng.randint(10_000, 10_000_000))}
        close = datetime.fromtimestamp(time.time() + rng.randint(0, 90) * 86400, UTC)
        return {"Name": f"Deal {rng.randint(1, 10**6)}", "Amount": float(rng.randint(100, 10**6)),
                "StageName": rng.choice(STAGES), "CloseDate": close.strftime("%Y-%m-%d"),
                "AccountId": None}

    def _add(self, sobject: str, stamp: int, invalid: bool = False, **values: Any) -> str:
        record_id = self._next_id(sobject)
        self._records[sobject][record_id] = {
            "Id": record_id, "IsDeleted": False, "CreatedDate": stamp,
            "LastModifiedDate": stamp, "SystemModstamp": stamp,
            **self._values(sobject, invalid), **values,
        }
        self._last_stamp = max(self._last_stamp, stamp)
        return record_id

    def _stamp(self, explicit_ms: int | None) -> int:
        if explicit_ms is not None:
            return explicit_ms
        # Second precision like the real SystemModstamp, never going backwards.
        self._last_stamp = max(int(time.time()) * 1000, self._last_stamp)
        return self._last_stamp

    def create(self, sobject: str, n: int, stamp_ms: int | None = None, **values: Any) -> list[str]:
        with self._lock:
            stamp = self._stamp(stamp_ms)
            return [self._add(sobject, stamp, **values) for _ in range(n)]

    def modify(self, sobject: str, ids: list[str], stamp_ms: int | None = None,
               **values: Any) -> None:
        with self._lock:
            stamp = self._stamp(stamp_ms)
            for record_id in ids:
                record = self._records[sobject][record_id]
                record.update(values or {"Title": f"Title {self._rng.randint(1, 10**6)}"})
                record["LastModifiedDate"] = record["SystemModstamp"] = stamp

    def delete(self, sobject: str, ids: list[str]) -> None:
        """Soft delete (the recycle bin): queryAll still returns them, with IsDeleted true."""
        with self._lock:
            stamp = self._stamp(None)
            for record_id in ids:
                record = self._records[sobject][record_id]
                record["IsDeleted"] = True
                record["SystemModstamp"] = stamp

    def records(self, sobject: str, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Records as the API renders them (with `attributes`), in Id order."""
        with self._lock:
            rows = sorted(self._records[sobject].values(), key=lambda r: r["Id"])
            return [self._render(sobject, r, list(FIELDS[sobject])) for r in rows
                    if include_deleted or not r["IsDeleted"]]

    def _render(self, sobject: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        url = f"/services/data/{API_VERSION}/sobjects/{sobject}/{record['Id']}"
        out: dict[str, Any] = {"attributes": {"type": sobject, "url": url}}
        for name in fields:
            value = record.get(name)
            out[name] = iso(value) if name in DATETIME_FIELDS and value is not None else value
        return out

    # ----- credentials -----

    def expire_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

    def invalidate_locators(self) -> None:
        with self._lock:
            self._locators.clear()

    def authenticate(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            expiry = self._sessions.get(token) if scheme.lower() == "bearer" else None
            if expiry is None or time.time() >= expiry:
                self._sessions.pop(token, None)
                raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            grant = form.get("grant_type")
            if grant == "refresh_token":
                error = self._check_refresh(form)
            elif grant == JWT_GRANT:
                error = self._check_jwt(form.get("assertion", ""))
            else:
                return 400, {"error": "unsupported_grant_type",
                             "error_description": "grant type not supported"}
            if error is not None:
                self.stats["invalid_grant"] += 1
                return 400, {"error": "invalid_grant", "error_description": error}
            access_token = f"00D000000000001!{secrets.token_urlsafe(40)}"
            self._sessions[access_token] = time.time() + self.session_timeout_s
            self.stats["refreshes_ok"] += 1
            body: dict[str, Any] = {
                "access_token": access_token, "signature": secrets.token_urlsafe(32),
                "scope": "refresh_token api id", "instance_url": "https://acme.my.salesforce.com",
                "id": "https://login.salesforce.com/id/00D000000000001/005000000000001",
                "token_type": "Bearer", "issued_at": str(int(time.time() * 1000)),
            }
            if grant == "refresh_token" and self.rotate_refresh_tokens:
                self.refresh_token = self._new_refresh_token()
                body["refresh_token"] = self.refresh_token
            return 200, body

    def _check_refresh(self, form: Mapping[str, str]) -> str | None:
        if form.get("client_id") != self.client_id:
            return "invalid client credentials"
        if form.get("client_secret") != self.client_secret:
            return "invalid client credentials"
        if form.get("refresh_token") != self.refresh_token:
            return "expired access/refresh token"
        return None

    def _check_jwt(self, assertion: str) -> str | None:
        try:
            header, payload, signature = assertion.split(".")
            self._public_key.verify(_b64url_decode(signature), f"{header}.{payload}".encode(),
                                    padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(_b64url_decode(payload))
        except (ValueError, InvalidSignature):
            return "invalid assertion"
        if claims.get("iss") != self.client_id or claims.get("aud") not in AUDIENCES:
            return "invalid assertion"
        if claims.get("sub") != self.username:
            return "user hasn't approved this consumer"
        if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
            return "expired authorization code"
        return None

    # ----- queries -----

    def admit(self) -> str:
        """Count an API call against the daily allowance; the Sforce-Limit-Info value."""
        with self._lock:
            if self._api_used >= self.daily_limit:
                raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED",
                                      "TotalRequests Limit exceeded.")
            self._api_used += 1
            return f"api-usage={self._api_used}/{self.daily_limit}"

    def query(self, soql: str, include_deleted: bool, batch_size: int) -> dict[str, Any]:
        try:
            parsed = parse(soql)
        except SoqlError as exc:
            raise SalesforceError(400, "MALFORMED_QUERY", str(exc)) from None
        if parsed.sobject not in FIELDS:
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{parsed.sobject}' is not "
                                  "supported.")
        known = set(FIELDS[parsed.sobject])
        for name in [*parsed.fields, *parsed.where_fields, *(f for f, _ in parsed.order)]:
            if name not in known:
                raise SalesforceError(
                    400, "INVALID_FIELD",
                    f"\n{soql[:80]}\n       ^\nERROR at Row:1:Column:8\nNo such column '{name}' "
                    f"on entity '{parsed.sobject}'. If you are attempting to use a custom field, "
                    "be sure to append the '__c' after the custom field name.")
        with self._lock:
            rows = [copy.copy(r) for r in self._records[parsed.sobject].values()
                    if (include_deleted or not r["IsDeleted"]) and parsed.where(r)]
            for name, descending in reversed(parsed.order):
                rows.sort(key=_nulls_last(name), reverse=descending)
            if parsed.limit is not None:
                rows = rows[: parsed.limit]
            rendered = [self._render(parsed.sobject, r, parsed.fields) for r in rows]
            batch = min(max(batch_size, MIN_BATCH), MAX_BATCH)
            locator = f"01g{secrets.token_hex(6).upper()}"
            self._locators[locator] = _Locator(rendered, parsed.fields, batch)
            return self._batch(locator, 0)

    def more(self, locator_and_offset: str) -> dict[str, Any]:
        locator, _, offset = locator_and_offset.rpartition("-")
        with self._lock:
            if locator not in self._locators or not offset.isdigit():
                raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._batch(locator, int(offset))

    def _batch(self, locator: str, offset: int) -> dict[str, Any]:
        found = self._locators[locator]
        end = offset + found.batch
        body: dict[str, Any] = {"totalSize": len(found.records), "done": end >= len(found.records),
                                "records": found.records[offset:end]}
        if end < len(found.records):
            body["nextRecordsUrl"] = f"/services/data/{API_VERSION}/query/{locator}-{end}"
        if end >= len(found.records) or self.single_use_locators:
            del self._locators[locator]
        return body

    # ----- faults and stats -----

    def inject(self, kind: str, count: int = 1, *, status: int | None = None,
               retry_after: float | None = None, delay_s: float = 0.0,
               target: str = "api") -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if target not in FAULT_TARGETS or count < 1:
            raise ValueError(f"bad fault target {target!r} or count {count}")
        with self._lock:
            self._faults[target].append(
                PendingFault(Fault(kind, status, retry_after, delay_s), count))

    def take_fault(self, target: str) -> Fault | None:
        with self._lock:
            queue = self._faults[target]
            if not queue:
                return None
            pending = queue[0]
            pending.remaining -= 1
            if pending.remaining <= 0:
                queue.popleft()
            return pending.fault

    def count(self, target: str, status: int) -> None:
        with self._lock:
            self.stats["requests" if target == "api" else "token_requests"] += 1
            statuses = self.stats["statuses"]
            statuses[str(status)] = statuses.get(str(status), 0) + 1

    def credentials(self) -> dict[str, str]:
        with self._lock:
            return {"client_id": self.client_id, "client_secret": self.client_secret,
                    "refresh_token": self.refresh_token}
