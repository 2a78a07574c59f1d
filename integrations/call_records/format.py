"""The layout of the MVNO's monthly detail files, defined here and nowhere else.

Files are CSV in CP932 (Windows Shift_JIS), CRLF line endings, one header row of Japanese
column titles, then one record per line. Times are Japan time (JST, no offset written).
The emulator writes these files with `header`, the loader reads them with `RecordParser`
(every rule, exact errors) and each column's `pattern` (a stricter regular expression the
loader's fast path matches whole lines with; see copy_rows.py); docs/call-records-format.md
describes the same layout for people.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.records import JST, RecordKind

ENCODING = "cp932"
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S"
JST_OFFSET = "+09"
INTEGER_MAX = 2**31 - 1
"""The database columns are INTEGER."""
_PHONE = r"[0-9]{10,11}"
_COUNTERPART = r"\+?[0-9]{3,15}"
_DIGITS = re.compile(r"[0-9]+")
_TEXT = r"(?:[^\s\x00,\"\\]|[^\s\x00,\"\\][^\x00,\"\\\t\r\n]*[^\s\x00,\"\\])?"
"""Text the fast path passes to COPY as it is: nothing to strip, quote or escape."""


class MalformedRecordError(ValueError):
    """One line of a detail file does not fit the layout."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file} line {line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Column:
    """One CSV column: its title in the file, its database column, its parser (every rule),
    and for the fast path: `pattern(month)`, a regular expression matching a subset of what
    `parse` accepts, and `to_copy`, turning a matched field into its COPY text (None: as is).
    """

    title: str
    name: str
    parse: Callable[[str], Any]
    pattern: Callable[[str], str]
    to_copy: Callable[[str], str] | None = None


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def parse(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"not {what}: {value!r}")
        return value

    return parse


def _any_month(pattern: str) -> Callable[[str], str]:
    return lambda month: pattern


def _timestamp(value: str) -> datetime:
    """`YYYY/MM/DD HH:MM:SS`, Japan time (fast path of `TIMESTAMP_FORMAT`)."""
    if len(value) != 19 or value[4] != "/" or value[7] != "/" or value[10] != " ":
        raise ValueError(f"not {TIMESTAMP_FORMAT}: {value!r}")
    return datetime.fromisoformat(value.replace("/", "-")).replace(tzinfo=JST)


def _timestamp_pattern(month: str) -> str:
    """`YYYY/MM/DD HH:MM:SS` of a valid day and time in `month` (YYYYMM)."""
    year, number = int(month[:4]), int(month[4:])
    last = calendar.monthrange(year, number)[1]
    days = "|".join(f"{day:02d}" for day in range(1, last + 1))
    return rf"{month[:4]}/{month[4:]}/(?:{days}) (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"


def _timestamp_to_copy(value: str) -> str:
    return value.replace("/", "-") + JST_OFFSET


def _non_negative(value: str) -> int:
    if not _DIGITS.fullmatch(value):
        raise ValueError(f"not a non-negative whole number: {value!r}")
    number = int(value)
    if number > INTEGER_MAX:
        raise ValueError(f"larger than {INTEGER_MAX}: {value!r}")
    return number


def _choice(mapping: dict[str, str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        try:
            return mapping[value]
        except KeyError:
            raise ValueError(f"{value!r} is not one of {', '.join(mapping)}") from None

    return parse


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


TALK_DIRECTIONS = {"発信": "outgoing", "着信": "incoming"}
SMS_DIRECTIONS = {"送信": "outgoing", "受信": "incoming"}

_NUMBER = r"[0-9]{1,9}"
"""Fast path: up to 9 digits always fits INTEGER."""


def _account(title: str) -> Column:
    return Column(title, "account", _matching(_PHONE, "a phone number"), _any_month(_PHONE))


def _time(title: str, name: str) -> Column:
    return Column(title, name, _timestamp, _timestamp_pattern, _timestamp_to_copy)


def _counterpart(title: str) -> Column:
    return Column(
        title,
        "counterpart",
        _matching(_COUNTERPART, "a counterpart number"),
        _any_month(_COUNTERPART),
    )


def _number(title: str, name: str) -> Column:
    return Column(title, name, _non_negative, _any_month(_NUMBER))


def _direction(title: str, mapping: dict[str, str]) -> Column:
    alternatives = _any_month("|".join(map(re.escape, mapping)))
    return Column(title, "direction", _choice(mapping), alternatives, mapping.__getitem__)


def _free_text(title: str, name: str) -> Column:
    return Column(title, name, _text, _any_month(_TEXT))


TALK_COLUMNS: tuple[Column, ...] = (
    _account("電話番号"),
    _time("通話開始日時", "started_at"),
    _counterpart("相手先番号"),
    _number("通話時間(秒)", "duration_seconds"),
    _direction("発着信区分", TALK_DIRECTIONS),
    _free_text("通話種別", "call_type"),
    _number("料金(円)", "charge_yen"),
)
SMS_COLUMNS: tuple[Column, ...] = (
    _account("電話番号"),
    _time("送受信日時", "sent_at"),
    _counterpart("相手先番号"),
    _direction("送受信区分", SMS_DIRECTIONS),
    _free_text("SMS種別", "sms_type"),
    _number("料金(円)", "charge_yen"),
)
COLUMNS: dict[RecordKind, tuple[Column, ...]] = {
    RecordKind.TALK: TALK_COLUMNS,
    RecordKind.SMS: SMS_COLUMNS,
}
TABLES = {RecordKind.TALK: "call_records_talk", RecordKind.SMS: "call_records_sms"}
TIME_COLUMN = {RecordKind.TALK: "started_at", RecordKind.SMS: "sent_at"}


def header(kind: RecordKind) -> list[str]:
    return [column.title for column in COLUMNS[kind]]


def column_names(kind: RecordKind) -> list[str]:
    return [column.name for column in COLUMNS[kind]]


def month_of(moment: datetime) -> str:
    return moment.astimezone(JST).strftime("%Y%m")


class RecordParser:
    """Turns the CSV fields of one file into database rows, naming file and line on error."""

    def __init__(self, kind: RecordKind, file: str, month: str) -> None:
        self._columns = COLUMNS[kind]
        self._time_index = column_names(kind).index(TIME_COLUMN[kind])
        self._file = file
        self._month = month

    def check_header(self, line: int, fields: Sequence[str]) -> None:
        expected = [column.title for column in self._columns]
        if [field.strip() for field in fields] != expected:
            raise MalformedRecordError(
                self._file, line, f"header is {list(fields)!r}, expected {expected!r}"
            )

    def parse(self, line: int, fields: Sequence[str]) -> tuple[Any, ...]:
        if len(fields) != len(self._columns):
            raise MalformedRecordError(
                self._file, line, f"{len(fields)} fields, expected {len(self._columns)}"
            )
        values: list[Any] = []
        for column, field in zip(self._columns, fields, strict=True):
            try:
                values.append(column.parse(field.strip()))
            except ValueError as error:
                raise MalformedRecordError(
                    self._file, line, f"column {column.title} ({column.name}): {error}"
                ) from None
        if month_of(values[self._time_index]) != self._month:
            raise MalformedRecordError(
                self._file,
                line,
                f"{self._columns[self._time_index].title} is outside {self._month}",
            )
        return tuple(values)
