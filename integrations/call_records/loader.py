"""Streams one detail file from SFTP into PostgreSQL and swaps its month in atomically.

Only a complete file is loaded: the MVNO publishes no completion marker or temporary name,
so the file must look the same (size, modification time) at two looks SFTP_STABLE_FOR
apart before it is read, and again after it was read (a file that changed meanwhile, or
whose "malformed" last line was cut by an upload still going on, is still being uploaded),
and it must not be empty (every file has its header); otherwise RemoteFileMissingError, and
the workflow looks again later, as for a missing file.

The bytes flow remote file (prefetched reads) -> sha256 -> blocks of whole lines -> CP932
decode and check (copy_rows.py) -> COPY into a new staging table, a block at a time, so
memory stays flat whatever the file size. In the same transaction the staging table gets
its index (built in bulk), replaces the month's partition (DETACH and DROP the old one,
ATTACH the new one) and an import row is recorded: readers see the old month until the
commit and the new one after it; any error (malformed line, dropped connection) rolls
everything back. Imports of the same kind and month wait for each other (advisory lock).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import paramiko
import psycopg
from psycopg import sql

from contracts.records import ImportedFile, RecordKind, file_name
from integrations.call_records.copy_rows import CopyRows
from integrations.call_records.format import TABLES, TIME_COLUMN, MalformedRecordError, column_names
from integrations.config import DatabaseSettings, SftpSettings
from integrations.errors import BusinessError, TransientError
from integrations.secrets.provider import CredentialSource
from integrations.sftp import RemoteFileMissingError, connect

PROGRESS_EVERY_BYTES = 4 * 1024 * 1024
READ_CHUNK = 1024 * 1024
MAX_LINE_BYTES = 64 * 1024
"""A longer line is malformed (and would otherwise have to be held in memory whole)."""

Progress = Callable[[int, int], None]
"""Called with (bytes read, file size) every few MiB, and at the end."""


class MalformedFileError(BusinessError):
    """A line does not fit the layout: nothing was changed; the file must be fixed upstream."""

    def __init__(self, error: MalformedRecordError) -> None:
        super().__init__("EMALFORMED", str(error))


class _RemoteChunks:
    """The remote file in chunks, hashed and counted, reporting progress, typing errors."""

    def __init__(self, remote: BinaryIO, host: str, size: int, progress: Progress) -> None:
        self._remote = remote
        self._host = host
        self._size = size
        self._progress = progress
        self.hash = hashlib.sha256()
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes]:
        next_report = PROGRESS_EVERY_BYTES
        while chunk := self._read():
            self.hash.update(chunk)
            self.bytes_read += len(chunk)
            if self.bytes_read >= next_report:
                self._progress(self.bytes_read, self._size)
                next_report = self.bytes_read + PROGRESS_EVERY_BYTES
            yield chunk

    def _read(self) -> bytes:
        try:
            return self._remote.read(READ_CHUNK)
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise TransientError(
                "ESFTP",
                f"SFTP {self._host}: read failed after {self.bytes_read} bytes: "
                f"{type(error).__name__}: {error}",
            ) from error


def _line_blocks(chunks: Iterable[bytes], file: str) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, whole lines) from chunks cut anywhere; a last line without
    its line end gets one. CP932 never uses the byte 0x0A inside a character."""
    number = 1
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > MAX_LINE_BYTES:
            raise MalformedRecordError(file, number, f"longer than {MAX_LINE_BYTES} bytes")
        if cut > 0:
            yield number, data[:cut]
            number += data.count(b"\n", 0, cut)
        rest = data[cut:]
    if rest:
        yield number, rest + b"\n"


def _copy_rows(
    cursor: psycopg.Cursor[tuple[object, ...]],
    staging: sql.Identifier,
    kind: RecordKind,
    month: str,
    chunks: Iterable[bytes],
    file: str,
) -> int:
    translator = CopyRows(kind, file, month)
    columns = sql.SQL(", ").join(map(sql.Identifier, ["month", *column_names(kind)]))
    rows = 0
    header_checked = False
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FREEZE)").format(staging, columns)
    with cursor.copy(statement) as copy:
        for first_line, lines in _line_blocks(chunks, file):
            if not header_checked:
                header_end = lines.index(b"\n") + 1
                translator.check_header(lines[:header_end])
                header_checked = True
                lines, first_line = lines[header_end:], first_line + 1
            text, count = translator.rows(lines, first_line)
            copy.write(text)
            rows += count
    if not header_checked:
        raise MalformedRecordError(file, 1, "empty file, expected a header row")
    return rows


class _MonthPartition:
    """The partition `<table>_<YYYYMM>` of one kind and month, and its replacement."""

    def __init__(self, kind: RecordKind, month: str) -> None:
        self._kind = kind
        self._month = month
        self._table = sql.Identifier(TABLES[kind])
        self._name = f"{TABLES[kind]}_{month}"
        self.staging = sql.Identifier(f"{self._name}_staging")

    def create_staging(self, cursor: psycopg.Cursor[tuple[object, ...]]) -> None:
        """Wait for any other import of this month, then create the empty staging table; its
        CHECK lets ATTACH skip scanning it."""
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._name,))
        cursor.execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS,"
                " CHECK (month = {}))"
            ).format(self.staging, self._table, sql.Literal(self._month))
        )

    def swap_in(self, cursor: psycopg.Cursor[tuple[object, ...]]) -> None:
        """Index the staging table, then make it the month's partition in the old one's place."""
        columns = sql.SQL(", ").join(
            map(sql.Identifier, ["account", "month", TIME_COLUMN[self._kind]])
        )
        index = f"{self._name}_account_month"
        staging_index = sql.Identifier(f"{index}_staging")
        cursor.execute(
            sql.SQL("CREATE INDEX {} ON {} ({})").format(staging_index, self.staging, columns)
        )
        current = sql.Identifier(self._name)
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (self._name,))
        if (row := cursor.fetchone()) and row[0]:
            cursor.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(self._table, current)
            )
            cursor.execute(sql.SQL("DROP TABLE {}").format(current))
        cursor.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(self.staging, current))
        cursor.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(staging_index, sql.Identifier(index))
        )
        cursor.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
                self._table, current, sql.Literal(self._month)
            )
        )


def import_month_file(
    sftp: SftpSettings,
    database: DatabaseSettings,
    kind: RecordKind,
    month: str,
    progress: Progress = lambda read, size: None,
    private_key: CredentialSource | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ImportedFile:
    """Replace `month` (YYYYMM) of `kind` with the SFTP file's records; return what was read.

    RemoteFileMissingError when the file (or SFTP_REMOTE_DIR) is not there yet or is still
    being uploaded, MalformedFileError (nothing changed) for a bad line, TransientError for
    connection trouble (nothing changed). `progress` is also called with (0, size) while
    waiting SFTP_STABLE_FOR (with `sleep`) between the two looks.
    """
    name = file_name(kind, month)
    partition = _MonthPartition(kind, month)
    with connect(sftp, private_key) as session:
        complete = session.complete_file(name, sleep, lambda look: progress(0, look.size))
        if complete.size == 0:  # a detail file always has its header: an upload not begun
            raise RemoteFileMissingError(
                complete.path, "is empty on the SFTP server (an upload not yet begun?)"
            )
        started = time.monotonic()
        size = complete.size
        with psycopg.connect(database.url) as connection, connection.cursor() as cursor:
            partition.create_staging(cursor)
            with session.open(name, size) as remote:
                reader = _RemoteChunks(remote, sftp.host, size, progress)
                try:
                    rows = _copy_rows(cursor, partition.staging, kind, month, reader, name)
                except MalformedRecordError as error:
                    session.check_unchanged(complete, session.look(name), "while it was read")
                    raise MalformedFileError(error) from None
            session.check_unchanged(complete, session.look(name), "after it was read")
            if reader.bytes_read != size:
                raise TransientError(
                    "ESFTP", f"{name}: read {reader.bytes_read} of {size} bytes; file changed?"
                )
            progress(reader.bytes_read, size)
            partition.swap_in(cursor)
            imported = ImportedFile(
                kind=kind,
                month=month,
                file=name,
                size_bytes=size,
                sha256=reader.hash.hexdigest(),
                rows=rows,
                duration_seconds=round(time.monotonic() - started, 3),
            )
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
