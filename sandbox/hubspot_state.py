"""HubSpotSandbox: the simulated portal's state plus the control API tests drive it with.

Every public method takes the lock: tests call control methods from their own thread while
uvicorn serves requests on a background thread.
"""

from __future__ import annotations

import copy
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from infra.times import iso
from sandbox import hubspot_data as data
from sandbox.hubspot_associations import AssociationGraph
from sandbox.hubspot_errors import (
    ApiError,
    correlation_id,
    daily_body,
    secondly_body,
    ten_secondly_body,
)
from sandbox.hubspot_limits import (
    FAULT_KINDS,
    FAULT_TARGETS,
    SERVER_ERROR_ROTATION,
    Fault,
    PendingFault,
    RollingWindow,
)
from sandbox.hubspot_search import MAX_RESULTS, SearchCache, SearchQuery
from sandbox.hubspot_store import ObjectStore

CLIENT_ID = "tributary-sandbox"
SCOPES = [
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.companies.read",
    "crm.objects.deals.read",
]
MAX_LIST_LIMIT = 100

PropertyGenerator = Callable[[random.Random, int, bool], data.Properties]
OBJECT_TYPES: dict[str, tuple[str, tuple[str, ...], PropertyGenerator]] = {
    # object type: (last-modified property, default properties returned, generator)
    "contacts": (
        "lastmodifieddate",
        ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        data.contact_properties,
    ),
    "companies": (
        "hs_lastmodifieddate",
        ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        data.company_properties,
    ),
    "deals": (
        "hs_lastmodifieddate",
        (
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        ),
        data.deal_properties,
    ),
}

# How modify_objects changes a record of each type (one property, to a different value).
CHANGES: dict[str, Callable[[random.Random, data.Properties], data.Properties]] = {
    "contacts": data.contact_change,
    "companies": data.company_change,
    "deals": data.deal_change,
}


def _fresh_stats() -> dict[str, Any]:
    return {
        "requests": 0,
        "token_requests": 0,
        "token_refreshes_ok": 0,
        "invalid_grants": 0,
        "responses_429": 0,
        "faults_served": 0,
        "endpoints": {},
        "statuses": {},
    }


def _oauth_error(status: str, message: str, error: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": message,
        "status": status,
        "message": message,
        "correlationId": correlation_id(),
    }


class HubSpotSandbox:
    def __init__(
        self,
        seed: int = 1,
        contacts: int = 1000,
        invalid_contacts: int = 0,
        rate_limit: int = 100,
        interval_ms: int = 10_000,
        search_per_second: int = 5,
        daily_limit: int | None = None,
        token_ttl_s: float = 1800,
        tie_groups: bool = True,
        companies: int = 0,
        deals: int = 0,
        rotate_refresh_tokens: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self.rate_limit, self.interval_ms, self.daily_limit = rate_limit, interval_ms, daily_limit
        self.token_ttl_s = token_ttl_s
        # HubSpot echoes the same refresh token; rotation (as Salesforce can) is a test knob
        # for refresh coordination across syncs and workers.
        self.rotate_refresh_tokens = rotate_refresh_tokens
        # Separate generators so credentials, object types and mutations don't perturb each other.
        self._credential_rng = random.Random(f"{seed}:credentials")
        self._mutation_rng = random.Random(f"{seed}:mutations")
        self.client_id = CLIENT_ID
        self.client_secret = self._token_like()
        self.hub_id = self._credential_rng.randint(10_000_000, 99_999_999)
        self.refresh_token = self._new_refresh_token()
        self._refresh_valid = True
        self._access_tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self._ten_secondly = RollingWindow(rate_limit, interval_ms / 1000)
        self._secondly = RollingWindow(search_per_second, 1.0)
        self._daily_used = 0
        self._faults: dict[str, deque[PendingFault]] = {target: deque() for target in FAULT_TARGETS}
        self._random_faults: dict[str, tuple[Fault, float, random.Random] | None] = {}
        self._responses: list[tuple[float, int]] = []  # (monotonic time, status) for benches
        self._server_errors_served = 0
        self._stats = _fresh_stats()
        self._search_cache = SearchCache()
        self.associations = AssociationGraph()  # sandbox.hubspot_associations
        self._invalid: set[int] = set()
        self._stores = {
            name: ObjectStore(name, prop, defaults)
            for name, (prop, defaults, _) in OBJECT_TYPES.items()
        }
        counts = {"contacts": contacts, "companies": companies, "deals": deals}
        for name, count in counts.items():
            self._generate(name, count, invalid_contacts if name == "contacts" else 0, tie_groups)
        self._last_stamp = max(
            (s.by_modified[-1][0] for s in self._stores.values() if s.by_modified), default=0
        )

    # ----- data generation and mutation -----

    def _generate(self, object_type: str, count: int, invalid: int, tie_groups: bool) -> None:
        rng = random.Random(f"{self.seed}:{object_type}")
        generator = OBJECT_TYPES[object_type][2]
        stamps = data.timestamps(rng, count, tie_groups)
        invalid_indexes = set(rng.sample(range(count), min(invalid, count)))
        self._invalid.update(data.FIRST_ID + i for i in invalid_indexes)
        self._stores[object_type].load(
            (
                data.FIRST_ID + i,
                generator(rng, data.FIRST_ID + i, i in invalid_indexes),
                created,
                modified,
            )
            for i, (created, modified) in enumerate(stamps)
        )

    def _stamp(self, explicit_ms: int | None) -> int:
        """Wall-clock ms that never goes backwards, unless a test pins it (e.g. to make ties)."""
        if explicit_ms is not None:
            self._last_stamp = max(self._last_stamp, explicit_ms)
            return explicit_ms
        self._last_stamp = max(int(time.time() * 1000), self._last_stamp)
        return self._last_stamp

    def _token_like(self) -> str:
        return "-".join(
            f"{self._credential_rng.getrandbits(bits):0{bits // 4}x}"
            for bits in (32, 16, 16, 16, 48)
        )

    def _new_refresh_token(self) -> str:
        return f"na1-{self._token_like()[4:]}"

    def records(self, object_type: str = "contacts") -> list[dict[str, Any]]:
        with self._lock:
            store = self._stores[object_type]
            names = sorted(store.property_names)
            return [
                r.to_json(names)
                for r in (store.records[i] for i in store.ids)
                if r.archived_ms is None
            ]

    def create_contacts(
        self, n: int, lastmodified_ms: int | None = None, **property_overrides: Any
    ) -> list[str]:
        return self.create_objects("contacts", n, lastmodified_ms, **property_overrides)

    def create_objects(
        self, object_type: str, n: int, lastmodified_ms: int | None = None,
        **property_overrides: Any
    ) -> list[str]:
        overrides = {k: None if v is None else str(v) for k, v in property_overrides.items()}
        generator = OBJECT_TYPES[object_type][2]
        with self._lock:
            store = self._stores[object_type]
            stamp = self._stamp(lastmodified_ms)
            created = []
            for _ in range(n):
                object_id = store.next_id
                properties = generator(self._mutation_rng, object_id, False) | overrides
                store.add(object_id, properties, stamp, stamp)
                created.append(str(object_id))
            return created

    def modify_contacts(
        self, ids: list[str] | None = None, n: int | None = None, lastmodified_ms: int | None = None
    ) -> list[str]:
        return self.modify_objects("contacts", ids, n, lastmodified_ms)

    def modify_objects(
        self, object_type: str, ids: list[str] | None = None, n: int | None = None,
        lastmodified_ms: int | None = None
    ) -> list[str]:
        """Change one property of each record (given, or n picked at random) at one stamp."""
        change = CHANGES[object_type]
        with self._lock:
            store = self._stores[object_type]
            if ids is None:
                if n is None:
                    raise ValueError("pass ids or n")
                live = [i for i in store.ids if store.records[i].archived_ms is None]
                targets = sorted(self._mutation_rng.sample(live, min(n, len(live))))
            else:
                targets = [int(i) for i in ids]
            records = [store.live(i) for i in targets]  # validate all before changing any
            stamp = self._stamp(lastmodified_ms)
            for record in records:
                store.touch(record, stamp, change(self._mutation_rng, record.properties))
            return [str(i) for i in targets]

    def archive_contacts(self, ids: list[str]) -> None:
        with self._lock:
            store = self._stores["contacts"]
            records = [store.live(int(i)) for i in ids]
            stamp = self._stamp(None)
            for record in records:
                store.archive(record, stamp)

    def invalid_ids(self) -> list[str]:
        with self._lock:
            return [str(i) for i in sorted(self._invalid)]

    # ----- credentials -----

    def expire_access_tokens(self) -> None:
        with self._lock:
            now = time.time()
            self._access_tokens = {
                token: min(expiry, now) for token, expiry in self._access_tokens.items()
            }

    def revoke_refresh_token(self) -> None:
        with self._lock:
            self._refresh_valid = False

    def reset_refresh_token(self) -> str:
        with self._lock:
            self.refresh_token = self._new_refresh_token()
            self._refresh_valid = True
            return self.refresh_token

    def credentials(self) -> dict[str, str]:
        with self._lock:
            return {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
            }

    # ----- faults and stats -----

    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay_s: float = 0.0,
        target: str = "api",
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if target not in FAULT_TARGETS:
            raise ValueError(
                f"unknown fault target {target!r}; expected one of {sorted(FAULT_TARGETS)}"
            )
        with self._lock:
            self._faults[target].append(
                PendingFault(Fault(kind, status, retry_after, delay_s), count)
            )

    def clear_faults(self) -> None:
        with self._lock:
            for queue in self._faults.values():
                queue.clear()
            self._random_faults.clear()

    @property
    def stats(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = _fresh_stats()

    # ----- used by the HTTP app -----

    def count_request(self, target: str, endpoint: str) -> None:
        with self._lock:
            self._stats["requests" if target == "api" else "token_requests"] += 1
            endpoints = self._stats["endpoints"]
            endpoints[endpoint] = endpoints.get(endpoint, 0) + 1

    def count_response(self, status: int) -> None:
        with self._lock:
            self._responses.append((time.monotonic(), status))
            statuses = self._stats["statuses"]
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 429:
                self._stats["responses_429"] += 1

    def responses(self) -> list[tuple[float, int]]:
        """Every response served so far as (time.monotonic(), status), oldest first."""
        with self._lock:
            return list(self._responses)

    def fault_rate(
        self, kind: str, probability: float, *, seed: int = 0, target: str = "api", **options: Any
    ) -> None:
        """Serve `kind` to each request of target with this probability (0 stops it); seeded."""
        if kind not in FAULT_KINDS or target not in FAULT_TARGETS:
            raise ValueError(f"unknown fault kind {kind!r} or target {target!r}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {probability}")
        with self._lock:
            self._random_faults[target] = (
                (Fault(kind, **options), probability, random.Random(seed)) if probability else None
            )

    def take_fault(self, target: str) -> Fault | None:
        """The next pending fault for target, resolving server_error's rotating status."""
        with self._lock:
            queue = self._faults[target]
            random_fault = self._random_faults.get(target)
            if queue:
                pending = queue[0]
                pending.remaining -= 1
                if pending.remaining <= 0:
                    queue.popleft()
                fault = pending.fault
            elif random_fault and random_fault[2].random() < random_fault[1]:
                fault = random_fault[0]
            else:
                return None
            self._stats["faults_served"] += 1
            if fault.kind == "server_error" and fault.status is None:
                status = SERVER_ERROR_ROTATION[
                    self._server_errors_served % len(SERVER_ERROR_ROTATION)
                ]
                fault = Fault(fault.kind, status, fault.retry_after, fault.delay_s)
            if fault.kind == "server_error":
                self._server_errors_served += 1
            return fault

    def authenticate(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            expiry = self._access_tokens.get(token) if scheme.lower() == "bearer" else None
        if expiry is None:
            raise ApiError(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
                "oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        now = time.time()
        if now >= expiry:
            ago = int(now - expiry)
            raise ApiError(
                401,
                f"The OAuth token used to make this call expired {ago} second(s) ago.",
                "EXPIRED_AUTHENTICATION",
                context={"expire time": [iso(int(expiry * 1000))]},
            )

    def limit_headers(self, search: bool) -> dict[str, str]:
        """The rate-limit headers a response would carry now (injected 429s carry them too)."""
        with self._lock:
            return self._limit_headers(time.monotonic(), search)

    def admit(self, search: bool) -> tuple[dict[str, str], dict[str, Any] | None]:
        """Rate-limit headers for the response, and a 429 body when the request is refused."""
        now = time.monotonic()
        with self._lock:
            if self.daily_limit is not None and self._daily_used >= self.daily_limit:
                return self._limit_headers(now, search), daily_body()
            window = self._secondly if search else self._ten_secondly
            if not window.admit(now):
                return self._limit_headers(
                    now, search
                ), secondly_body() if search else ten_secondly_body()
            self._daily_used += 1
            return self._limit_headers(now, search), None

    def _limit_headers(self, now: float, search: bool) -> dict[str, str]:
        # Search is exempt from the ten-secondly window and its responses carry none of its headers.
        headers = (
            {}
            if search
            else {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.interval_ms),
                "X-HubSpot-RateLimit-Max": str(self.rate_limit),
                "X-HubSpot-RateLimit-Remaining": str(self._ten_secondly.remaining(now)),
            }
        )
        if self.daily_limit is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                max(self.daily_limit - self._daily_used, 0)
            )
        return headers

    def exchange_refresh_token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "refresh_token":
            return 400, _oauth_error(
                "BAD_GRANT_TYPE", "grant_type must be refresh_token", "unsupported_grant_type"
            )
        if form.get("client_id") != self.client_id:
            return 400, _oauth_error(
                "BAD_CLIENT_ID", "missing or unknown client id", "invalid_client"
            )
        if form.get("client_secret") != self.client_secret:
            return 400, _oauth_error(
                "BAD_CLIENT_SECRET", "missing or invalid client secret", "invalid_client"
            )
        with self._lock:
            if not self._refresh_valid or form.get("refresh_token") != self.refresh_token:
                self._stats["invalid_grants"] += 1
                return 400, _oauth_error(
                    "BAD_REFRESH_TOKEN",
                    "refresh token is invalid, expired or revoked",
                    "invalid_grant",
                )
            access_token = secrets.token_urlsafe(48)
            self._access_tokens[access_token] = time.time() + self.token_ttl_s
            self._stats["token_refreshes_ok"] += 1
            if self.rotate_refresh_tokens:  # the previous refresh token stops working now
                self.refresh_token = self._new_refresh_token()
            return 200, {
                "token_type": "bearer",
                "refresh_token": self.refresh_token,
                "access_token": access_token,
                "expires_in": int(self.token_ttl_s),
                "hub_id": self.hub_id,
                "scopes": SCOPES,
                "token_use": "access_token",
            }

    def _store(self, object_type: str) -> ObjectStore:
        try:
            return self._stores[object_type]
        except KeyError:
            raise ApiError(
                404, f"Unable to infer object type from: {object_type}", "OBJECT_NOT_FOUND"
            ) from None

    def _property_names(self, store: ObjectStore, requested: list[str] | None) -> list[str]:
        if not requested:
            return list(store.default_properties)
        return [name for name in requested if name in store.property_names]

    def list_page(
        self, object_type: str, after: int, limit: int, archived: bool, properties: list[str] | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        with self._lock:
            store = self._store(object_type)
            records, next_id = store.page(after, limit, archived)
            names = self._property_names(store, properties)
            return [r.to_json(names) for r in records], next_id

    def read(
        self, object_type: str, object_id: str, archived: bool, properties: list[str] | None
    ) -> dict[str, Any]:
        with self._lock:
            store = self._store(object_type)
            record = store.records.get(int(object_id)) if object_id.isdigit() else None
            if record is None or (record.archived_ms is not None) != archived:
                raise ApiError(
                    404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
                )
            return record.to_json(self._property_names(store, properties))

    def search(self, object_type: str, body: Any) -> dict[str, Any]:
        with self._lock:
            store = self._store(object_type)
            query = SearchQuery.parse(body)
            ids = self._search_cache.matching_ids(store, query)
            end = min(query.offset + query.limit, len(ids), MAX_RESULTS)
            always = ("hs_object_id", "createdate", store.lastmodified_property)
            if query.properties:
                names = sorted(
                    set(self._property_names(store, list(query.properties))) | set(always)
                )
            else:
                names = list(store.default_properties)
            response: dict[str, Any] = {
                "total": len(ids),
                "results": [store.records[i].to_json(names) for i in ids[query.offset : end]],
            }
            if end < len(ids):
                response["paging"] = {"next": {"after": str(end)}}
            return response
