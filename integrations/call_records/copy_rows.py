"""Lines of a detail file -> rows for PostgreSQL `COPY ... FROM STDIN` (text format), checked.

A block of whole lines is decoded (CP932) at once. Most lines are well formed: one regular
expression per line, built from the columns' patterns, matches them all and turns each into
a COPY row with little Python work per line. A block with any line that expression does not
match is redone line by line with csv and the columns' parsers (format.py), which accept
the whole layout and name the first line that breaks it.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from typing import Any

from contracts.records import JST, RecordKind
from integrations.call_records.format import (
    COLUMNS,
    ENCODING,
    JST_OFFSET,
    MalformedRecordError,
    RecordParser,
)

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S") + JST_OFFSET
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)


class CopyRows:
    """The COPY rows (`month` first, then the kind's columns) of one file's lines."""

    def __init__(self, kind: RecordKind, file: str, month: str) -> None:
        columns = COLUMNS[kind]
        fields = ",".join(f"({column.pattern(month)})" for column in columns)
        self._well_formed = re.compile(rf"^{fields}\r?\n", re.MULTILINE)
        self._conversions = [
            (index, column.to_copy)
            for index, column in enumerate(columns)
            if column.to_copy is not None
        ]
        self._prefix = f"{month}\t"
        self._parser = RecordParser(kind, file, month)
        self._file = file

    def check_header(self, line: bytes) -> None:
        self._parser.check_header(1, self._fields(1, self._decode(line, 1)))

    def rows(self, lines: bytes, first_line: int) -> tuple[str, int]:
        """COPY rows of `lines` (whole lines, the first one numbered `first_line`), and how
        many; MalformedRecordError naming the first bad line."""
        text = self._decode(lines, first_line)
        count = text.count("\n")
        copy, matched = self._well_formed.subn(self._fast_row, text)
        if matched == count:  # each match is one whole line: all of them matched
            return copy, count
        return self._checked_rows(text, first_line), count

    def _fast_row(self, match: re.Match[str]) -> str:
        values = list(match.groups())
        for index, convert in self._conversions:
            values[index] = convert(values[index])
        return self._prefix + "\t".join(values) + "\n"

    def _checked_rows(self, text: str, first_line: int) -> str:
        rows = []
        for number, line in enumerate(text.split("\n")[:-1], start=first_line):
            values = self._parser.parse(number, self._fields(number, line))
            rows.append(self._prefix + "\t".join(map(_copy_value, values)) + "\n")
        return "".join(rows)

    def _decode(self, lines: bytes, first_line: int) -> str:
        try:
            return lines.decode(ENCODING)
        except UnicodeDecodeError as error:
            number = first_line + lines.count(b"\n", 0, error.start)
            raise MalformedRecordError(
                self._file, number, f"not valid {ENCODING}: {error.reason}"
            ) from None

    def _fields(self, number: int, line: str) -> list[str]:
        """One line's CSV fields; a record never spans lines."""
        try:
            content = line.removesuffix("\n").removesuffix("\r")
            return next(csv.reader([content], strict=True), [])
        except csv.Error as error:
            raise MalformedRecordError(self._file, number, f"CSV: {error}") from None
