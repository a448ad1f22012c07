"""Providers by name: the settings each accepts, its streams and mappings, and its connector.

Streams belong to the connector instance: HubSpot and Salesforce have a fixed set, a declarative
REST connection has the streams its configuration describes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails

from connectors.base import Connector
from connectors.hubspot import HubSpotConnector
from connectors.hubspot_api import HubSpotSettings
from connectors.mapping import Mapping, default_mapping, with_id
from connectors.rest import RestConnector
from connectors.rest_config import RestSettings
from connectors.salesforce import SalesforceConnector
from connectors.salesforce_api import SalesforceMapping, SalesforceSettings


@dataclass(frozen=True)
class Provider:
    settings: type[BaseModel]
    mapping: type[Mapping]
    # A code provider's streams, or how a connection's settings declare them (REST).
    streams: tuple[str, ...] | Callable[[Any], tuple[str, ...]]
    default_mapping: Callable[[Any, str], Mapping]
    make: Callable[[Any, dict[str, Mapping]], Connector]
    # Where a stream's records carry their id, when the settings say (a REST `primary_key`).
    identity: Callable[[Any, str], str | None] | None = None

    def streams_of(self, settings: Any) -> tuple[str, ...]:
        return self.streams(settings) if callable(self.streams) else self.streams


def _packaged(provider: str, model: type[Mapping] = Mapping) -> Callable[[Any, str], Mapping]:
    return lambda settings, stream: default_mapping(provider, stream, model)


PROVIDERS: dict[str, Provider] = {
    "hubspot": Provider(
        HubSpotSettings, Mapping, HubSpotConnector.streams, _packaged("hubspot"),
        lambda s, m: HubSpotConnector(s, {k: v.source_properties() for k, v in m.items()}),
    ),
    "salesforce": Provider(
        SalesforceSettings, SalesforceMapping, SalesforceConnector.streams,
        _packaged("salesforce", SalesforceMapping),
        lambda s, m: SalesforceConnector(s, {k: v.source_paths() for k, v in m.items()}),
    ),
    "rest": Provider(
        RestSettings, Mapping, lambda s: tuple(s.streams),
        lambda s, stream: s.streams[stream].mapping, lambda s, m: RestConnector(s),
        lambda s, stream: s.streams[stream].primary_key,
    ),
}
SETTINGS: dict[str, type[BaseModel]] = {name: p.settings for name, p in PROVIDERS.items()}


class UnknownProvider(ValueError):
    pass


def _provider(provider: str) -> Provider:
    if provider not in PROVIDERS:
        raise UnknownProvider(f"unknown provider {provider!r}; valid: {sorted(PROVIDERS)}")
    return PROVIDERS[provider]


def _override(spec: Provider, stream: str, document: Any) -> Mapping:
    """A connection's own mapping of a stream; errors are located under `mappings.<stream>`."""
    try:
        return spec.mapping.model_validate(document)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            "mappings", [_located(e, stream) for e in exc.errors()]) from None


def _located(error: ErrorDetails, stream: str) -> InitErrorDetails:
    details: InitErrorDetails = {"type": error["type"], "input": error["input"],
                                 "loc": ("mappings", stream, *error["loc"])}
    if "ctx" in error:
        details["ctx"] = error["ctx"]
    return details


def _settings_only(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "mappings"}


def validate_settings(provider: str, config: dict[str, Any]) -> BaseModel:
    return _provider(provider).settings.model_validate(config)


def streams(provider: str, config: dict[str, Any]) -> tuple[str, ...]:
    """The streams of a connection with this provider and configuration."""
    spec = _provider(provider)
    return spec.streams_of(validate_settings(provider, _settings_only(config)))


def mappings(
    provider: str, overrides: dict[str, Any] | None, settings: BaseModel
) -> dict[str, Mapping]:
    """Each stream's mapping: the connection's own where it has one, else the default."""
    spec = _provider(provider)
    overrides = overrides or {}
    names = spec.streams_of(settings)
    unknown = set(overrides) - set(names)
    if unknown:
        # A pydantic error, so `connection add` reports it like any other bad setting.
        raise ValidationError.from_exception_data("mappings", [{
            "type": "value_error", "loc": ("mappings", name), "input": overrides[name],
            "ctx": {"error": ValueError(f"no stream {name!r}; streams: {', '.join(names)}")},
        } for name in sorted(unknown)])
    return {
        stream: _identified(spec, settings, stream, _override(spec, stream, overrides[stream]))
        if stream in overrides else spec.default_mapping(settings, stream)
        for stream in names
    }


def _identified(spec: Provider, settings: Any, stream: str, mapping: Mapping) -> Mapping:
    key = None if spec.identity is None else spec.identity(settings, stream)
    if key is None:
        return mapping
    try:
        return with_id(mapping, key)
    except ValueError as exc:
        raise ValidationError.from_exception_data("mappings", [{
            "type": "value_error", "loc": ("mappings", stream, "id"), "input": mapping.id,
            "ctx": {"error": exc}}]) from None


def build(provider: str, config: dict[str, Any]) -> tuple[Connector, dict[str, Mapping]]:
    spec = _provider(provider)
    settings = validate_settings(provider, _settings_only(config))
    stream_mappings = mappings(provider, config.get("mappings"), settings)
    return spec.make(settings, stream_mappings), stream_mappings


def uses_refresh_token(config: dict[str, Any]) -> bool:
    """False for credentials that are not a refresh token (JWT bearer, API key, basic,
    client credentials): the vault then holds only the secret."""
    if config.get("credential_type") == "jwt_bearer":
        return False
    auth = config.get("auth")
    return not (isinstance(auth, dict) and auth.get("type") != "oauth2_refresh_token")
