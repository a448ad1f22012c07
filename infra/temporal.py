"""Connecting to Temporal and registering Tributary's search attributes (idempotently)."""

from __future__ import annotations

import os

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client

from workflows.names import SEARCH_ATTRIBUTES


def address() -> str:
    return os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")


def namespace() -> str:
    return os.environ.get("TEMPORAL_NAMESPACE", "default")


async def connect(target: str | None = None) -> Client:
    return await Client.connect(target or address(), namespace=namespace())


async def ensure_search_attributes(client: Client) -> None:
    """Add the missing Keyword attributes; a fresh dev server or cluster needs no manual set-up."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    known = set(listed.custom_attributes) | set(listed.system_attributes)
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(search_attributes=missing, namespace=client.namespace)
        )
