"""The SOQL subset the Salesforce sandbox understands, parsed into a filter and a sort.

SELECT a, b.c FROM T [WHERE cond] [ORDER BY f [ASC|DESC], ...] [LIMIT n], where cond combines
`field op literal` with AND, OR and parentheses; literals are dateTime (unquoted, as SOQL has
them), 'strings', numbers, true, false and null. Anything else is MALFORMED_QUERY, as on the real
API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.times import parse_iso, to_ms

_TOKEN = re.compile(
    r"\s*(?:(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))"
    r"|(?P<number>-?\d+(?:\.\d+)?)|'(?P<string>(?:[^'\\]|\\.)*)'"
    r"|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
Predicate = Callable[[dict[str, Any]], bool]


class SoqlError(ValueError):
    """MALFORMED_QUERY: the text does not parse."""


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Predicate
    where_fields: list[str]
    order: list[tuple[str, bool]]  # (field, descending)
    limit: int | None


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SoqlError(f"unexpected token: '{text[position:position + 10].strip()}'")
        kind = match.lastgroup or ""
        value: Any = match.group(kind)
        if kind == "datetime":
            value = to_ms(parse_iso(value))
        elif kind == "number":
            value = float(value)
        elif kind == "string":
            value = re.sub(r"\\(.)", r"\1", value)
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.where_fields: list[str] = []

    def peek_word(self) -> str | None:
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "word":
            return str(self.tokens[self.i][1]).upper()
        return None

    def take(self, kind: str, value: str | None = None) -> Any:
        if self.i >= len(self.tokens):
            raise SoqlError(f"unexpected end of query, expecting {value or kind}")
        got_kind, got = self.tokens[self.i]
        matches = got_kind == kind and (
            value is None or str(got).upper() == value.upper()
        )
        if not matches:
            raise SoqlError(f"unexpected token: '{got}'")
        self.i += 1
        return got

    def query(self) -> Query:
        self.take("word", "SELECT")
        fields = [self.take("word")]
        while self.i < len(self.tokens) and self.tokens[self.i] == ("punct", ","):
            self.i += 1
            fields.append(self.take("word"))
        self.take("word", "FROM")
        sobject = self.take("word")
        where: Predicate = lambda record: True  # noqa: E731
        if self.peek_word() == "WHERE":
            self.i += 1
            where = self.disjunction()
        order: list[tuple[str, bool]] = []
        if self.peek_word() == "ORDER":
            self.i += 1
            self.take("word", "BY")
            while True:
                name = self.take("word")
                descending = self.peek_word() == "DESC"
                if self.peek_word() in ("ASC", "DESC"):
                    self.i += 1
                order.append((name, descending))
                if self.i < len(self.tokens) and self.tokens[self.i] == ("punct", ","):
                    self.i += 1
                    continue
                break
        limit = None
        if self.peek_word() == "LIMIT":
            self.i += 1
            limit = int(self.take("number"))
        if self.i != len(self.tokens):
            raise SoqlError(f"unexpected token: '{self.tokens[self.i][1]}'")
        return Query(fields, sobject, where, self.where_fields, order, limit)

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek_word() == "OR":
            self.i += 1
            parts.append(self.conjunction())
        return lambda record: any(p(record) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.comparison()]
        while self.peek_word() == "AND":
            self.i += 1
            parts.append(self.comparison())
        return lambda record: all(p(record) for p in parts)

    def comparison(self) -> Predicate:
        if self.i < len(self.tokens) and self.tokens[self.i] == ("punct", "("):
            self.i += 1
            inner = self.disjunction()
            self.take("punct", ")")
            return inner
        name = self.take("word")
        self.where_fields.append(name)
        op = self.take("op")
        if self.i >= len(self.tokens):
            raise SoqlError("unexpected end of query, expecting a value")
        kind, literal = self.tokens[self.i]
        self.i += 1
        if kind == "word":
            words = {"TRUE": True, "FALSE": False, "NULL": None}
            if str(literal).upper() not in words:
                raise SoqlError(f"unexpected token: '{literal}'")
            literal = words[str(literal).upper()]
        elif kind not in ("datetime", "number", "string"):
            raise SoqlError(f"unexpected token: '{literal}'")
        return _compare(name, op, literal)


def _compare(name: str, op: str, literal: Any) -> Predicate:
    def predicate(record: dict[str, Any]) -> bool:
        value = record.get(name)
        if op in ("=", "!=", "<>"):
            return bool(value == literal) == (op == "=")
        if value is None or literal is None:
            return False
        return bool({"<": value < literal, "<=": value <= literal, ">": value > literal,
                     ">=": value >= literal}[op])

    return predicate


def parse(text: str) -> Query:
    return _Parser(text).query()
