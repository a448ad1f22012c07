"""What a column can hold, read from its own type in store/schema.py.

PostgreSQL refuses a value its column cannot hold (a NUL character, text longer than
varchar(n), a number beyond integer or numeric(p, s), text where a number goes) and fails the
whole statement: one such record would fail its batch's upsert on every retry. SQLite stores
it anyway. The transform checks every row against these rules, so the record is rejected, the
same on both databases, and the rest of its batch goes on.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
)

Check = Callable[[Any], str | None]
_BITS = ((BigInteger, 64), (SmallInteger, 16), (Integer, 32))  # subclasses first
_SHOWN = 40  # characters of a refused value quoted in its error


def refusals(table: Table, row: dict[str, Any]) -> list[str]:
    """Why `row` cannot be stored in `table`: one "column: reason" per value that does not fit
    (None fits: whether a column may be empty is the mapping's rule)."""
    checks = _checks(table)
    found = []
    for name, value in row.items():
        if value is not None and (reason := checks[name](value)) is not None:
            found.append(f"{name}: {reason}")
    return found


def refusal(column: Column[Any], value: Any) -> str | None:
    """Why `value` cannot be stored in `column`, or None when it fits."""
    return None if value is None else _checks(column.table)[column.name](value)


def fitted(column: Column[Any], text: str) -> str:
    """`text` as `column` stores it: NUL characters written out as \\x00 and, past the column's
    length, cut and ended with a digest of the whole, so two long values stay two."""
    text = text.replace("\x00", "\\x00")
    length = column.type.length if isinstance(column.type, String) else None
    if length is None or len(text) <= length:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{text[:length - 18]}…#{digest}"


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}… ({len(text)} characters)"


@functools.cache
def _checks(table: Table) -> dict[str, Check]:
    return {column.name: _check(column) for column in table.columns}


def _check(column: Column[Any]) -> Check:
    kind = column.type
    where = f"{column.table.name}.{column.name} is {str(kind).lower()}"
    if isinstance(kind, String):  # Text too: its length is None
        return _text(kind.length, where)
    if isinstance(kind, Boolean):
        return lambda value: None if isinstance(value, bool) else f"{_shown(value)} is not " \
            f"true or false ({where})"
    if isinstance(kind, Integer):
        bits = next(b for t, b in _BITS if isinstance(kind, t))
        return _integer(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1, where)
    if isinstance(kind, Numeric):
        return _number(kind.precision, kind.scale or 0, where)
    if isinstance(kind, DateTime):
        return lambda value: None if isinstance(value, datetime) else f"{_shown(value)} is " \
            f"not a timestamp ({where})"
    raise TypeError(f"no rule for what {where} holds: add one to store/columns.py")


def _text(length: int | None, where: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"{_shown(value)} is not text ({where})"
        if "\x00" in value:
            # PostgreSQL text cannot hold it (nor jsonb the \u0000 escape the rows travel as).
            return f"contains a NUL character (\\x00) at position {value.index(chr(0))}, " \
                "which PostgreSQL text cannot hold"
        if length is not None and len(value) > length:
            return f"{len(value)} characters, longer than the column holds ({where})"
        return None

    return check


def _integer(low: int, high: int, where: str) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{_shown(value)} is not a whole number ({where})"
        if not low <= value <= high:
            return f"{_shown(value)} is out of range ({where}: {low} to {high})"
        return None

    return check


def _number(precision: int | None, scale: int, where: str) -> Check:
    step = Decimal(1).scaleb(-scale)

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return f"{_shown(value)} is not a number ({where})"
        number = Decimal(value)
        if not number.is_finite():
            return f"{_shown(value)} is not a finite number ({where})"
        if precision is None:
            return None
        # As the database stores it: rounded half away from zero to the scale.
        fits = number.adjusted() < precision - scale
        if fits:
            with localcontext() as context:
                context.prec = precision + 1
                fits = abs(number.quantize(step, ROUND_HALF_UP)).adjusted() < precision - scale
        return None if fits else f"{_shown(value)} does not fit ({where}: less than " \
            f"10^{precision - scale})"

    return check
