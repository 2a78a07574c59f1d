"""Deterministic detail files in the production layout (integrations/call_records/format.py):
the same kind, month, rows and seed always give the same bytes. Written by streaming, so a
file of any size costs no memory."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from pathlib import Path

from contracts.records import JST, RecordKind
from integrations.call_records.format import (
    ENCODING,
    SMS_DIRECTIONS,
    TALK_DIRECTIONS,
    TIMESTAMP_FORMAT,
    header,
)

ACCOUNTS = 1000
_CALL_TYPES = ["国内通話", "国際通話", "かけ放題対象通話"]
_SMS_TYPES = ["国内SMS", "国際SMS"]


def account_number(index: int) -> str:
    return f"080{index:08d}"


def _fields(kind: RecordKind, month: str, rng: random.Random) -> list[str]:
    start = datetime(int(month[:4]), int(month[4:]), 1, tzinfo=JST)
    moment = start + timedelta(seconds=rng.randrange(28 * 86400))
    account = account_number(rng.randrange(ACCOUNTS))
    counterpart = f"090{rng.randrange(10**8):08d}"
    when = moment.strftime(TIMESTAMP_FORMAT)
    if kind is RecordKind.TALK:
        duration = rng.randrange(1, 3600)
        return [
            account,
            when,
            counterpart,
            str(duration),
            rng.choice(list(TALK_DIRECTIONS)),
            rng.choice(_CALL_TYPES),
            str(duration // 30 * 11),
        ]
    return [
        account,
        when,
        counterpart,
        rng.choice(list(SMS_DIRECTIONS)),
        rng.choice(_SMS_TYPES),
        str(rng.choice([0, 3, 100])),
    ]


def write_detail_file(path: Path, kind: RecordKind, month: str, rows: int, seed: int = 0) -> int:
    """Write `rows` records of `kind` for `month` (YYYYMM) to `path`; return its size."""
    rng = random.Random(f"{kind.value}-{month}-{seed}")
    with path.open("wb") as binary:
        text = io.TextIOWrapper(binary, encoding=ENCODING, newline="")
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(header(kind))
        for _ in range(rows):
            writer.writerow(_fields(kind, month, rng))
        text.flush()
        text.detach()
    return path.stat().st_size
