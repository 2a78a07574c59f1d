"""Streams one detail file from SFTP into PostgreSQL and swaps its month in atomically.

The bytes flow remote file -> sha256 -> line-by-line CP932 decode -> CSV -> `RecordParser`
-> COPY into a temporary staging table, so memory stays flat whatever the file size. In
the same transaction the month is then deleted from the real table, refilled from staging,
and an import row is recorded: readers see the old month until the commit and the new one
after it; any error (malformed line, dropped connection) rolls everything back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

import paramiko
import psycopg
from psycopg import sql
from pydantic import BaseModel

from integrations.call_records.format import (
    ENCODING,
    TABLES,
    MalformedRecordError,
    RecordKind,
    RecordParser,
    column_names,
    file_name,
)
from integrations.config import DatabaseSettings, SftpSettings
from integrations.errors import BusinessError, TransientError
from integrations.sftp import connect

PROGRESS_EVERY_BYTES = 4 * 1024 * 1024
READ_CHUNK = 1024 * 1024

Progress = Callable[[int, int], None]
"""Called with (bytes read, file size) every few MiB, and at the end."""


class ImportedFile(BaseModel):
    kind: RecordKind
    month: str
    file: str
    size_bytes: int
    sha256: str
    rows: int
    duration_seconds: float


class MalformedFileError(BusinessError):
    """A line does not fit the layout: nothing was changed; the file must be fixed upstream."""

    def __init__(self, error: MalformedRecordError) -> None:
        super().__init__("EMALFORMED", str(error))


class _HashingReader(io.RawIOBase):
    """Reads the remote file, hashing and counting, reporting progress, typing errors."""

    def __init__(self, remote: BinaryIO, host: str, size: int, progress: Progress) -> None:
        self._remote = remote
        self._host = host
        self._size = size
        self._progress = progress
        self._next_report = PROGRESS_EVERY_BYTES
        self.hash = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._remote.read(len(buffer))
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise TransientError(
                "ESFTP",
                f"SFTP {self._host}: read failed after {self.bytes_read} bytes: "
                f"{type(error).__name__}: {error}",
            ) from error
        size = len(data)
        buffer[:size] = data
        self.hash.update(data)
        self.bytes_read += size
        if self.bytes_read >= self._next_report:
            self._progress(self.bytes_read, self._size)
            self._next_report = self.bytes_read + PROGRESS_EVERY_BYTES
        return size


def _decoded_lines(raw: Iterator[bytes], file: str) -> Iterator[str]:
    for number, line in enumerate(raw, start=1):
        try:
            yield line.decode(ENCODING)
        except UnicodeDecodeError as error:
            raise MalformedRecordError(file, number, f"not valid {ENCODING}: {error}") from None


def _copy_rows(
    cursor: psycopg.Cursor[tuple[object, ...]],
    staging: sql.Identifier,
    kind: RecordKind,
    month: str,
    lines: Iterator[str],
    file: str,
) -> int:
    parser = RecordParser(kind, file, month)
    columns = sql.SQL(", ").join(map(sql.Identifier, ["month", *column_names(kind)]))
    reader = csv.reader(lines, strict=True)
    rows = 0
    with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staging, columns)) as copy:
        try:
            for fields in reader:
                if reader.line_num == 1:
                    parser.check_header(1, fields)
                    continue
                copy.write_row((month, *parser.parse(reader.line_num, fields)))
                rows += 1
        except csv.Error as error:
            raise MalformedRecordError(file, reader.line_num, f"CSV: {error}") from None
    if reader.line_num == 0:
        raise MalformedRecordError(file, 1, "empty file, expected a header row")
    return rows


def import_month_file(
    sftp: SftpSettings,
    database: DatabaseSettings,
    kind: RecordKind,
    month: str,
    progress: Progress = lambda read, size: None,
) -> ImportedFile:
    """Replace `month` (YYYYMM) of `kind` with the SFTP file's records; return what was read.

    RemoteFileMissingError when the file is not there yet, MalformedFileError (nothing
    changed) for a bad line, TransientError for connection trouble (nothing changed).
    """
    started = time.monotonic()
    name = file_name(kind, month)
    table = sql.Identifier(TABLES[kind])
    staging = sql.Identifier(f"staging_{TABLES[kind]}")
    with connect(sftp) as session:
        size = session.size(name)
        with psycopg.connect(database.url) as connection, connection.cursor() as cursor:
            with session.open(name, size) as remote:
                reader = _HashingReader(remote, sftp.host, size, progress)
                raw = io.BufferedReader(reader, READ_CHUNK)
                cursor.execute(
                    sql.SQL(
                        "CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
                    ).format(staging, table)
                )
                try:
                    rows = _copy_rows(cursor, staging, kind, month, _decoded_lines(raw, name), name)
                except MalformedRecordError as error:
                    raise MalformedFileError(error) from None
            if reader.bytes_read != size:
                raise TransientError(
                    "ESFTP", f"{name}: read {reader.bytes_read} of {size} bytes; file changed?"
                )
            progress(reader.bytes_read, size)
            imported = ImportedFile(
                kind=kind,
                month=month,
                file=name,
                size_bytes=size,
                sha256=reader.hash.hexdigest(),
                rows=rows,
                duration_seconds=round(time.monotonic() - started, 3),
            )
            cursor.execute(sql.SQL("DELETE FROM {} WHERE month = %s").format(table), (month,))
            cursor.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(table, staging))
            cursor.execute(
                "INSERT INTO call_record_imports"
                " (kind, month, file, size_bytes, sha256, rows, duration_seconds)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    kind.value,
                    month,
                    name,
                    size,
                    imported.sha256,
                    rows,
                    imported.duration_seconds,
                ),
            )
            connection.commit()
    return imported
