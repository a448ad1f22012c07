"""Providers by name, and the connection settings each one accepts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from connectors.base import Connector
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.mapping import Mapping, default_mapping

SETTINGS: dict[str, type[BaseModel]] = {"hubspot": HubSpotSettings}
STREAMS: dict[str, tuple[str, ...]] = {"hubspot": HubSpotConnector.streams}


class UnknownProvider(ValueError):
    pass


def validate_settings(provider: str, config: dict[str, Any]) -> BaseModel:
    if provider not in SETTINGS:
        raise UnknownProvider(f"unknown provider {provider!r}; valid: {sorted(SETTINGS)}")
    return SETTINGS[provider].model_validate(config)


def mappings(provider: str, overrides: dict[str, Any] | None = None) -> dict[str, Mapping]:
    """Each stream's mapping: the connection's own where it has one, else the default."""
    overrides = overrides or {}
    return {
        stream: Mapping.model_validate(overrides[stream]) if stream in overrides
        else default_mapping(provider, stream)
        for stream in STREAMS[provider]
    }


def build(provider: str, config: dict[str, Any]) -> tuple[Connector, dict[str, Mapping]]:
    settings_dict = {k: v for k, v in config.items() if k != "mappings"}
    settings = validate_settings(provider, settings_dict)
    stream_mappings = mappings(provider, config.get("mappings"))
    properties = {s: m.source_properties() for s, m in stream_mappings.items()}
    if provider == "hubspot":
        assert isinstance(settings, HubSpotSettings)
        return HubSpotConnector(settings, properties), stream_mappings
    raise UnknownProvider(provider)
