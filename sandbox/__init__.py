"""Faithful in-process simulator of the HubSpot CRM v3 API (see /work/shared/api-facts.md)."""

from sandbox.hubspot_state import HubSpotSandbox
from sandbox.server import SandboxServer

__all__ = ["HubSpotSandbox", "SandboxServer"]
