"""Field mappings as configuration: source path -> canonical field, transform, default, required.

A mapping is validated when it is loaded (when a connection is added), so a typo fails there and
not halfway through a sync. Applying it to a record either yields a canonical row or the reasons
the record is rejected.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from sqlalchemy import Table

from infra.times import from_ms, parse_local
from store.columns import refusal, refusals
from store.schema import CANONICAL_TABLES

Transform = Literal[
    "text", "trim", "lower", "email", "phone_e164", "datetime", "number", "integer", "enum",
    "concat", "constant",
]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# "1,234.56", "-12", "(1,234.56)" once currency symbols and codes are gone.
_NUMBER = re.compile(r"^(?P<open>\()?-?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?(?(open)\))$")
_CURRENCY_MARKS = re.compile(r"[$€£¥]|\b[A-Z]{3}\b|\s")
_RESERVED = {"id", "connection", "stream", "external_id", "source_created_at",
             "source_updated_at", "archived", "synced_at"}


def _scalar(value: Any) -> Any:
    """What fills a missing value (and a constant) is one value: a structure would be copied
    into every row, and a configuration file could make it grow without bound."""
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError("`default` is one value (text, a number or a boolean), not "
                         f"a {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("`default` must be a finite number")
    return value


Scalar = Annotated[str | int | float | bool | None, BeforeValidator(_scalar)]


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | list[str] | None = None
    transform: Transform = "trim"
    required: bool = False
    default: Scalar = None
    values: dict[str, str] | None = None  # enum map
    separator: str = " "  # concat
    region: str = "US"  # phone numbers written without a country code
    # datetime: a strptime format for non-ISO text, and the zone of values that carry none.
    format: str | None = None
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _consistent(self) -> FieldMapping:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r} (use an IANA name such as "
                             "'Europe/Paris')") from None
        if self.transform == "constant":
            if self.default is None:
                raise ValueError("a constant needs `default`")
        elif self.source is None:
            raise ValueError("`source` is required (a dotted path, or a list for concat)")
        if self.transform == "enum" and not self.values:
            raise ValueError("an enum transform needs `values`")
        if isinstance(self.source, list) and self.transform != "concat":
            raise ValueError("a list of sources needs the concat transform")
        return self


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: str
    id: str = "id"
    updated_at: str
    created_at: str | None = None
    archived: str | None = None
    fields: dict[str, FieldMapping] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_columns(self) -> Mapping:
        table = CANONICAL_TABLES.get(self.entity)
        if table is None:
            raise ValueError(f"unknown entity {self.entity!r}; valid: {sorted(CANONICAL_TABLES)}")
        columns = {c.name for c in table.columns} - _RESERVED
        unknown = set(self.fields) - columns
        if unknown:
            raise ValueError(f"unknown {self.entity} fields {sorted(unknown)}; "
                             f"valid: {sorted(columns)}")
        for name, field in self.fields.items():
            # A default fills a column as it is, untransformed: it must fit the column.
            if (reason := refusal(table.c[name], field.default)) is not None:
                raise ValueError(f"{self.entity}.{name}: the default does not fit: {reason}")
        for column in table.columns:
            if column.name in columns and not column.nullable:
                spec = self.fields.get(column.name)
                if spec is None or not (spec.required or spec.default is not None):
                    raise ValueError(f"{self.entity}.{column.name} cannot be empty: map it "
                                     "with required=true or a default")
        return self

    @property
    def table(self) -> Table:
        return CANONICAL_TABLES[self.entity]

    def source_properties(self) -> list[str]:
        """The provider properties the mapping reads, so a fetch requests only those."""
        paths: list[str] = [self.updated_at, *(p for p in (self.created_at,) if p)]
        for spec in self.fields.values():
            sources = spec.source if isinstance(spec.source, list) else [spec.source]
            paths.extend(s for s in sources if s)
        return sorted({p.split(".", 1)[1] for p in paths if p.startswith("properties.")})

    def source_paths(self) -> list[str]:
        """Every record path the mapping reads (id, timestamps, archived flag and fields)."""
        paths = {self.id, self.updated_at}
        paths.update(p for p in (self.created_at, self.archived) if p)
        for spec in self.fields.values():
            sources = spec.source if isinstance(spec.source, list) else [spec.source]
            paths.update(s for s in sources if s)
        return sorted(paths)


def default_mapping(provider: str, stream: str, model: type[Mapping] = Mapping) -> Mapping:
    """The mapping shipped in connectors/mappings/<provider>_<stream>.json."""
    text = resources.files("connectors.mappings").joinpath(f"{provider}_{stream}.json").read_text()
    return model.model_validate(json.loads(text))


def with_id(mapping: Mapping, path: str) -> Mapping:
    """`mapping` reading the record id at `path` (a REST stream's `primary_key`): one identity,
    so a mapping that names another is refused."""
    if "id" not in mapping.model_fields_set:
        return mapping.model_copy(update={"id": path})
    if mapping.id != path:
        raise ValueError(f"the record id is {path!r} (primary_key), not {mapping.id!r}: "
                         "name one")
    return mapping


def record_id(mapping: Mapping, record: Any) -> str:
    """The record's external id by the mapping's `id` path ('' when a record has none)."""
    value = _get(record, mapping.id) if isinstance(record, dict) else None
    return "" if value is None else str(value)


# Paths are split once, not once per record and field.
_PATHS: dict[str, tuple[str, ...]] = {}


def _get(record: dict[str, Any], path: str) -> Any:
    parts = _PATHS.get(path)
    if parts is None:
        parts = _PATHS[path] = tuple(path.split("."))
    value: Any = record
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _datetime(value: Any, fmt: str | None = None, zone: str = "UTC") -> datetime:
    """Naive UTC from epoch milliseconds, ISO 8601 or `fmt`; values without a zone are in `zone`."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            return from_ms(int(value))
        except (OverflowError, OSError):
            raise ValueError(f"epoch milliseconds out of range: {value!r}") from None
    try:
        return parse_local(str(value), fmt, ZoneInfo(zone))
    except OverflowError:  # year 1 or 9999 moved past the calendar's end by its offset
        raise ValueError(f"out of range once in UTC: {value!r}") from None


def _number(value: Any) -> Decimal:
    """Numbers and amounts alike: "1234.5", "1,234.56", "$1,234.56", "USD 12", "(12.50)"."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = _CURRENCY_MARKS.sub("", str(value))
    match = _NUMBER.match(text)
    if not text or not match or text in ("()", "-"):
        raise ValueError(f"not a number: {value!r}")
    negative = match.group("open") is not None
    number = Decimal(text.strip("()").replace(",", ""))
    return -number if negative else number


def _apply_field(spec: FieldMapping, record: dict[str, Any]) -> Any:
    if spec.transform == "constant":
        return spec.default
    if spec.transform == "concat":
        sources = spec.source if isinstance(spec.source, list) else [spec.source]
        parts = [str(v).strip() for v in (_get(record, s) for s in sources if s) if v]
        return spec.separator.join(p for p in parts if p) or None
    value = _get(record, str(spec.source))
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        return None
    match spec.transform:
        case "text":
            return str(value)
        case "trim":
            return str(value).strip()
        case "lower":
            return str(value).lower()
        case "email":
            email = str(value).lower()
            if not _EMAIL.match(email):
                raise ValueError(f"not an email address: {value!r}")
            return email
        case "phone_e164":
            try:
                phone = phonenumbers.parse(str(value), spec.region)
            except phonenumbers.NumberParseException:
                return str(value)  # keep what the provider has rather than lose it
            if not phonenumbers.is_possible_number(phone):
                return str(value)
            return phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.E164)
        case "datetime":
            return _datetime(value, spec.format, spec.timezone)
        case "number":
            try:
                return _number(value)
            except InvalidOperation as exc:
                raise ValueError(f"not a number: {value!r}") from exc
        case "integer":
            number = _number(value)
            if number != number.to_integral_value():
                raise ValueError(f"not a whole number: {value!r}")
            return int(number)
        case "enum":
            mapped = (spec.values or {}).get(str(value))
            if mapped is None:
                raise ValueError(f"{value!r} is not one of {sorted(spec.values or {})}")
            return mapped
    raise AssertionError(spec.transform)


def apply(mapping: Mapping, record: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """A canonical row (without connection/stream/synced_at), or the reasons to reject it."""
    errors: list[str] = []
    row: dict[str, Any] = {}
    for name, spec in mapping.fields.items():
        try:
            value = _apply_field(spec, record)
        except (ValueError, TypeError) as exc:
            errors.append(f"{name}: {exc}")
            continue
        if value is None:
            value = spec.default
        if value is None and spec.required:
            errors.append(f"{name}: required but missing (source {spec.source})")
        row[name] = value
    external_id = _get(record, mapping.id)
    if external_id in (None, ""):
        errors.append(f"id: missing ({mapping.id})")
    else:
        row["external_id"] = str(external_id)
    try:
        row["source_updated_at"] = _datetime(_get(record, mapping.updated_at))
        if mapping.created_at and _get(record, mapping.created_at):
            row["source_created_at"] = _datetime(_get(record, mapping.created_at))
    except (ValueError, TypeError) as exc:
        errors.append(f"timestamps: {exc}")
    # What the destination's columns cannot hold: PostgreSQL would fail the whole batch.
    errors += refusals(mapping.table, row)
    if errors:
        return None, errors
    row["archived"] = bool(_get(record, mapping.archived)) if mapping.archived else False
    return row, []
