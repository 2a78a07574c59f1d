"""Records import benchmark: a generated detail file imported through SFTP (emulator, real
SSH, production client and loader), beside `psql \\copy` of the same file from local disk
into an all-text temporary table, in the same run; prints the ratio and peak RSS.

    .venv/bin/python -m bench.records [--rows 1000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from emulators.sftp import SftpEmulator
from integrations.call_records.format import RecordKind, column_names
from integrations.call_records.loader import import_month_file
from integrations.config import DatabaseSettings
from integrations.database import apply_migrations

MONTH = "202609"


def _psql_copy(url: str, path: Path) -> float:
    columns = ", ".join(f"{name} TEXT" for name in column_names(RecordKind.TALK))
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
        with tempfile.TemporaryDirectory() as work, SftpEmulator(Path(work)) as sftp:
            database = DatabaseSettings(DATABASE_URL=url)

            async def migrate() -> None:
                async with await psycopg.AsyncConnection.connect(url) as connection:
                    await apply_migrations(connection)

            asyncio.run(migrate())
            path = sftp.put_generated(RecordKind.TALK, MONTH, rows=args.rows, seed=1)
            imported = import_month_file(sftp.settings(), database, RecordKind.TALK, MONTH)
            psql_seconds = _psql_copy(url, path)
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size_mib = imported.size_bytes / 2**20
        print(f"file: {imported.rows} rows, {size_mib:.1f} MiB")
        print(f"SFTP + parse + COPY + month swap: {imported.duration_seconds:.2f} s")
        print(f"psql \\copy from local disk:        {psql_seconds:.2f} s")
        print(f"ratio: {imported.duration_seconds / psql_seconds:.1f}x")
        print(f"peak RSS of this process (includes the in-process emulator): {peak_mib:.0f} MiB")
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"'.encode())


if __name__ == "__main__":
    main()
