"""The SFTP emulator for `portalctl emulators`: serving generated talk and SMS files of one
month, by default the one the daily schedule imports today."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import typer

from contracts.records import MONTHS_BEHIND, RecordKind, months_back, normalize_month
from emulators.sftp import SftpEmulator


def records_month_option(value: str | None) -> str | None:
    """Typer callback: `YYYY-MM` -> `YYYYMM`, or a usage error naming the option."""
    try:
        return None if value is None else normalize_month(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


@contextmanager
def running_sftp_emulator(
    work_dir: Path, port: int, month: str | None, rows: int
) -> Iterator[SftpEmulator]:
    """Start the emulator (keys and files under `work_dir`) with `rows` records per file."""
    served = month or months_back(datetime.now(UTC), MONTHS_BEHIND)
    with SftpEmulator(work_dir, port=port) as sftp:
        for kind in RecordKind:
            sftp.put_generated(kind, served, rows=rows)
        yield sftp
