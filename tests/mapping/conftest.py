"""Mapping tests re-use the REST stack: the people API can serve records a mapping rejects."""

from tests.rest.conftest import rest_stack, worker

__all__ = ["rest_stack", "worker"]
