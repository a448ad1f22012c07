"""Names shared by the workflow, the worker, the starter and the docs: one place each."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

WORKFLOW_TYPE = "StreamSync"
WORKFLOW_QUEUE = "tributary-workflows"
DB_QUEUE = "tributary-db"


def provider_queue(provider: str) -> str:
    """Provider calls run on their provider's queue, where the server enforces rate limits."""
    return f"tributary-{provider}"


# The provider queues' per-connection rate limit is this rate scaled by the connection's
# fairness weight (infra.rate_limits sets it on the queue; the workflow sets the weight).
RATE_LIMIT_BASE_RPS = 1.0
UNLIMITED_RPS = 1000.0


def fairness_weight(requests_per_second: float | None) -> float:
    """The weight that gives a connection its request rate (no limit: UNLIMITED_RPS)."""
    return (requests_per_second or UNLIMITED_RPS) / RATE_LIMIT_BASE_RPS


def workflow_id(connection: str, stream: str) -> str:
    """One running sync per (connection, stream): a second start with this id is refused."""
    return f"sync/{connection}/{stream}"


CONNECTION = SearchAttributeKey.for_keyword("TributaryConnection")
STREAM = SearchAttributeKey.for_keyword("TributaryStream")
PROVIDER = SearchAttributeKey.for_keyword("TributaryProvider")
TENANT = SearchAttributeKey.for_keyword("TributaryTenant")
SEARCH_ATTRIBUTES = (CONNECTION, STREAM, PROVIDER, TENANT)
