"""A declarative REST connection's configuration: the models it is validated against, and files.

One connection = base URL + auth + streams; a stream = path, records path, primary key, cursor
field and format, pagination, optional incremental window parameters, and its mapping. Rate-limit
headers and errors carried in a 200 body are configured once per connection.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from yaml.composer import ComposerError

from connectors.base import DAY_S, HttpSettings
from connectors.errors import Category
from connectors.mapping import Mapping, with_id
from connectors.paginators import Pagination
from connectors.urls import UrlOrPath


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class OAuth2RefreshToken(_Model):
    """Vault: client secret + refresh token."""

    type: Literal["oauth2_refresh_token"]
    token_url: UrlOrPath  # absolute, or a path relative to base_url
    client_id: str


class OAuth2ClientCredentials(_Model):
    """Vault: client secret (the refresh token field is unused)."""

    type: Literal["oauth2_client_credentials"]
    token_url: UrlOrPath  # absolute, or a path relative to base_url
    client_id: str
    scope: str | None = None


class ApiKey(_Model):
    """Vault: the key, in the client secret field."""

    type: Literal["api_key"]
    name: str = Field(description="header or query parameter name, e.g. X-API-Key")
    location: Literal["header", "query"] = "header"
    prefix: str = ""  # e.g. "Token " for `Authorization: Token <key>`


class Basic(_Model):
    """Vault: the password, in the client secret field."""

    type: Literal["basic"]
    username: str


Auth = Annotated[
    OAuth2RefreshToken | OAuth2ClientCredentials | ApiKey | Basic, Field(discriminator="type")
]
TimeFormat = Literal["iso8601", "epoch_ms", "epoch_s"]


class Incremental(_Model):
    """Query parameters that bound a window on the provider side."""

    start_param: str
    end_param: str | None = None
    format: TimeFormat = "iso8601"


class StreamSpec(_Model):
    path: str
    params: dict[str, str | int | bool] = {}
    records_path: str = Field("", description="dotted path of the record list; '' = the body")
    # The record's identity, when declared: the `id` of the stream's mapping and of any
    # override of it. Undeclared, each mapping's own `id` says (default "id").
    primary_key: str | None = None
    cursor_field: str = Field(description="dotted path of the record's last-modified time")
    cursor_format: TimeFormat = "iso8601"
    incremental: Incremental | None = None
    pagination: Pagination
    mapping: Mapping

    @model_validator(mode="after")
    def _one_identity(self) -> StreamSpec:
        if self.primary_key is not None:
            self.mapping = with_id(self.mapping, self.primary_key)
        return self


class RateLimit(_Model):
    remaining_header: str | None = None
    retry_after_header: str = "Retry-After"  # seconds
    reset_header: str | None = None  # epoch seconds when the window resets
    default_retry_s: float = Field(default=10.0, ge=0, le=DAY_S)
    # The window's budget (a header, else a fixed number) and length: with the remaining count
    # they let a stream slow down before the budget runs out (connectors.headroom).
    limit_header: str | None = None
    limit: int | None = Field(default=None, ge=1)
    interval_s: float | None = Field(default=None, gt=0, le=DAY_S)


class ErrorInBody(_Model):
    """A 200 whose body says it failed: the value at `path` is present (and one of `values`)."""

    path: str
    values: list[str | int | bool] | None = None
    message_path: str | None = None
    category: Category = "server_error"


class RestSettings(HttpSettings):
    auth: Auth
    streams: dict[str, StreamSpec] = Field(min_length=1)
    headers: dict[str, str] = {}
    rate_limit: RateLimit = RateLimit()
    error_in_body: ErrorInBody | None = None
    refresh_margin_s: int = Field(60, ge=0, le=DAY_S)


# A connection's settings are a few KiB; more is a mistake (or an attack on the CLI's memory).
MAX_CONFIG_BYTES = 1024 * 1024


class _PlainYaml(yaml.SafeLoader):
    """YAML without anchors and aliases: aliases of aliases of aliases expand a file of a few
    hundred bytes into billions of nodes ("billion laughs"). Settings never need them."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it out
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def _one_line(exc: Exception) -> str:
    """The parser's message on one line (YAML's quote the offending lines)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem and exc.problem_mark:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_PlainYaml)  # a SafeLoader: no Python objects either


_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    ".toml": ("TOML", tomllib.loads), ".json": ("JSON", json.loads),
    ".yaml": ("YAML", _yaml), ".yml": ("YAML", _yaml),
}


def load_config(path: Path) -> dict[str, Any]:
    """A connection configuration from a .toml, .json or .yaml file of at most 1 MiB, holding a
    mapping of settings. Every problem is a ValueError naming the file (OSError: unreadable)."""
    if path.suffix not in _PARSERS:
        raise ValueError(f"{path}: expected a .toml, .json or .yaml file")
    kind, parse = _PARSERS[path.suffix]
    with path.open("rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)  # never more, whatever the file holds
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"{path} is larger than {MAX_CONFIG_BYTES >> 20} MiB: not settings")
    try:
        loaded = parse(data.decode())
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply to be settings") from None
    except (ValueError, yaml.YAMLError) as exc:  # JSON and TOML errors are ValueErrors
        raise ValueError(f"{path} is not valid {kind}: {_one_line(exc)}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} must hold a mapping of settings at the top level, not "
                         f"{'nothing' if loaded is None else type(loaded).__name__}")
    return loaded
