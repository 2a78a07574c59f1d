"""Records import benchmark: a generated detail file imported through SFTP (the emulator, real
SSH, in a process of its own; the production client and loader here), beside `psql \\copy` of
the same file from local disk into an all-text temporary table, in the same run; prints
both durations, the ratio and the peak RSS of the importing process.

    .venv/bin/python -m bench.records [--rows 1000000] [--admin-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import psycopg

from bench.conditions import machine_conditions
from contracts.records import ImportedFile, RecordKind
from emulators.sftp import SftpEmulator
from integrations.call_records.format import column_names
from integrations.call_records.loader import import_month_file
from integrations.config import DatabaseSettings, SftpSettings
from integrations.database import apply_migrations

MONTH = "202609"
KIND = RecordKind.TALK


def _serve_sftp(work_dir: Path, rows: int, parent: Connection) -> None:
    """In the emulator process: generate the file, report where, serve until told to stop."""
    with SftpEmulator(work_dir) as sftp:
        path = sftp.put_generated(KIND, MONTH, rows=rows, seed=1)
        parent.send((sftp.settings(), path))
        parent.recv()


@contextmanager
def _sftp_in_own_process(work_dir: Path, rows: int) -> Iterator[tuple[SftpSettings, Path]]:
    """So the SSH server does not compete with the importer for this process's GIL."""
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_sftp, args=(work_dir, rows, theirs), daemon=True
    )
    process.start()
    try:
        settings, path = ours.recv()
        yield settings, path
    finally:
        ours.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def _psql_copy(url: str, path: Path) -> float:
    columns = ", ".join(f"{name} TEXT" for name in column_names(KIND))
    started = time.monotonic()
    subprocess.run(
        [
            "psql",
            url,
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"CREATE TEMP TABLE bench_copy ({columns})",
            "-c",
            f"\\copy bench_copy FROM '{path}' WITH (FORMAT csv, HEADER, ENCODING 'SJIS')",
        ],
        check=True,
    )
    return time.monotonic() - started


def _migrate(url: str) -> None:
    async def migrate() -> None:
        async with await psycopg.AsyncConnection.connect(url) as connection:
            await apply_migrations(connection)

    asyncio.run(migrate())


def _report(imported: ImportedFile, import_seconds: float, psql_seconds: float) -> None:
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mib = imported.size_bytes / 2**20
    print(f"file: {imported.rows} rows, {size_mib:.1f} MiB")
    print(f"SFTP + decode + check + COPY + month swap + commit: {import_seconds:.2f} s")
    print(f"psql \\copy from local disk into a TEXT temp table:  {psql_seconds:.2f} s")
    print(f"ratio: {import_seconds / psql_seconds:.1f}x")
    print(f"peak RSS of the importing process: {peak_mib:.0f} MiB")
    print(f"conditions: {machine_conditions()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"portal_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    url = args.admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        _migrate(url)
        with (
            tempfile.TemporaryDirectory() as work,
            _sftp_in_own_process(Path(work), args.rows) as (sftp, path),
        ):
            database = DatabaseSettings(DATABASE_URL=url)
            started = time.monotonic()
            imported = import_month_file(sftp, database, KIND, MONTH)
            import_seconds = time.monotonic() - started
            psql_seconds = _psql_copy(url, path)
        _report(imported, import_seconds, psql_seconds)
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"'.encode())


if __name__ == "__main__":
    main()
