"""Parse the SOQL subset the project uses; anything else is a syntax error (MALFORMED_QUERY).

    SELECT COUNT() FROM Type [WHERE ...] [LIMIT n]
    SELECT col, ... FROM Type [WHERE field = literal [AND ...]] [LIMIT n]

where a column is a field, a parent field through a relationship (`Product2.Name`) or a
child subquery `(SELECT col, ... FROM ChildRelationship [WHERE ...] [LIMIT n])`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<symbol>[(),=])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_KEYWORD_LITERALS: dict[str, bool | None] = {"TRUE": True, "FALSE": False, "NULL": None}

Literal = str | float | bool | None


class SoqlSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Condition:
    field: str
    value: Literal


@dataclass(frozen=True)
class SoqlQuery:
    source: str
    """The sObject type, or in a subquery the child relationship name."""
    columns: tuple[str | SoqlQuery, ...]
    conditions: tuple[Condition, ...] = ()
    limit: int | None = None
    count_only: bool = False


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def parse_soql(text: str) -> SoqlQuery:
    parser = _Parser(_tokenize(text))
    query = parser.query(nested=False)
    parser.expect_end()
    return query


def _unescaped(text: str) -> str:
    return re.sub(r"\\(.)", lambda escape: _ESCAPES.get(escape[1], escape[1]), text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise SoqlSyntaxError(f"unexpected token: '{text[position:].split()[0]}'")
        tokens.append(_Token(match.lastgroup, match[match.lastgroup]))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._position = 0

    def query(self, *, nested: bool) -> SoqlQuery:
        self._expect_keyword("SELECT")
        count_only = not nested and self._accept_count()
        columns = () if count_only else self._columns()
        self._expect_keyword("FROM")
        source = self._name()
        conditions = self._conditions() if self._accept_keyword("WHERE") else ()
        limit = self._limit() if self._accept_keyword("LIMIT") else None
        return SoqlQuery(source, columns, conditions, limit, count_only)

    def expect_end(self) -> None:
        if self._position < len(self._tokens):
            raise self._unexpected()

    def _columns(self) -> tuple[str | SoqlQuery, ...]:
        columns: list[str | SoqlQuery] = [self._column()]
        while self._accept_symbol(","):
            columns.append(self._column())
        return tuple(columns)

    def _column(self) -> str | SoqlQuery:
        if not self._accept_symbol("("):
            return self._name()
        subquery = self.query(nested=True)
        self._expect_symbol(")")
        return subquery

    def _accept_count(self) -> bool:
        token = self._peek()
        if token is None or token.text.upper() != "COUNT":
            return False
        self._position += 1
        self._expect_symbol("(")
        self._expect_symbol(")")
        return True

    def _conditions(self) -> tuple[Condition, ...]:
        conditions = [self._condition()]
        while self._accept_keyword("AND"):
            conditions.append(self._condition())
        return tuple(conditions)

    def _condition(self) -> Condition:
        field = self._name()
        self._expect_symbol("=")
        return Condition(field, self._literal())

    def _literal(self) -> Literal:
        token = self._next()
        if token.kind == "string":
            return _unescaped(token.text[1:-1])
        if token.kind == "number":
            return float(token.text)
        if token.kind == "name" and token.text.upper() in _KEYWORD_LITERALS:
            return _KEYWORD_LITERALS[token.text.upper()]
        raise self._unexpected(token)

    def _limit(self) -> int:
        token = self._next()
        if token.kind != "number" or not token.text.isdigit():
            raise self._unexpected(token)
        return int(token.text)

    def _name(self) -> str:
        token = self._next()
        if token.kind != "name":
            raise self._unexpected(token)
        return token.text

    def _accept_keyword(self, keyword: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "name" and token.text.upper() == keyword:
            self._position += 1
            return True
        return False

    def _expect_keyword(self, keyword: str) -> None:
        if not self._accept_keyword(keyword):
            raise self._unexpected()

    def _accept_symbol(self, symbol: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "symbol" and token.text == symbol:
            self._position += 1
            return True
        return False

    def _expect_symbol(self, symbol: str) -> None:
        if not self._accept_symbol(symbol):
            raise self._unexpected()

    def _peek(self) -> _Token | None:
        return self._tokens[self._position] if self._position < len(self._tokens) else None

    def _next(self) -> _Token:
        token = self._peek()
        if token is None:
            raise self._unexpected()
        self._position += 1
        return token

    def _unexpected(self, token: _Token | None = None) -> SoqlSyntaxError:
        token = token or self._peek()
        if token is None:
            return SoqlSyntaxError("unexpected end of query")
        return SoqlSyntaxError(f"unexpected token: '{token.text}'")
