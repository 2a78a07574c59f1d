"""The layout of the MVNO's monthly detail files, defined here and nowhere else.

Files are CSV in CP932 (Windows Shift_JIS), CRLF line endings, one header row of Japanese
column titles, then one record per line. Times are Japan time (JST, no offset written).
The emulator writes these files with `write_row`/`header_line`, the loader reads them with
`RecordParser`; docs/call-records-format.md describes the same layout for people.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

ENCODING = "cp932"
JST = timezone(timedelta(hours=9), "JST")
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S"
_PHONE = re.compile(r"\d{10,11}")
_COUNTERPART = re.compile(r"\+?\d{3,15}")


class RecordKind(StrEnum):
    TALK = "talk"
    SMS = "sms"


def file_name(kind: RecordKind, month: str) -> str:
    """`PASI_talk-detail-YYYYMM.csv` for month `YYYYMM`."""
    return f"PASI_{kind.value}-detail-{month}.csv"


class MalformedRecordError(ValueError):
    """One line of a detail file does not fit the layout."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file} line {line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Column:
    """One CSV column: its title in the file, its database column, and its parser."""

    title: str
    name: str
    parse: Callable[[str], Any]


def _phone(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError(f"not a phone number: {value!r}")
    return value


def _counterpart(value: str) -> str:
    if not _COUNTERPART.fullmatch(value):
        raise ValueError(f"not a counterpart number: {value!r}")
    return value


def _timestamp(value: str) -> datetime:
    """`YYYY/MM/DD HH:MM:SS`, Japan time (fast path of `TIMESTAMP_FORMAT`)."""
    if len(value) != 19 or value[4] != "/" or value[7] != "/" or value[10] != " ":
        raise ValueError(f"not {TIMESTAMP_FORMAT}: {value!r}")
    return datetime.fromisoformat(value.replace("/", "-")).replace(tzinfo=JST)


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"negative: {value!r}")
    return number


def _choice(mapping: dict[str, str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        try:
            return mapping[value]
        except KeyError:
            raise ValueError(f"{value!r} is not one of {', '.join(mapping)}") from None

    return parse


def _text(value: str) -> str:
    return value


TALK_DIRECTIONS = {"発信": "outgoing", "着信": "incoming"}
SMS_DIRECTIONS = {"送信": "outgoing", "受信": "incoming"}

TALK_COLUMNS: tuple[Column, ...] = (
    Column("電話番号", "account", _phone),
    Column("通話開始日時", "started_at", _timestamp),
    Column("相手先番号", "counterpart", _counterpart),
    Column("通話時間(秒)", "duration_seconds", _non_negative),
    Column("発着信区分", "direction", _choice(TALK_DIRECTIONS)),
    Column("通話種別", "call_type", _text),
    Column("料金(円)", "charge_yen", _non_negative),
)
SMS_COLUMNS: tuple[Column, ...] = (
    Column("電話番号", "account", _phone),
    Column("送受信日時", "sent_at", _timestamp),
    Column("相手先番号", "counterpart", _counterpart),
    Column("送受信区分", "direction", _choice(SMS_DIRECTIONS)),
    Column("SMS種別", "sms_type", _text),
    Column("料金(円)", "charge_yen", _non_negative),
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
