"""`ImportCallRecords` and `ScheduledCallRecordsImport`: months, files, the import policy
and the import activity."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from contracts.activity_type import ActivityType
from contracts.durations import Duration

JST = timezone(timedelta(hours=9), "JST")
"""Months and the detail files' timestamps are Japan time."""
MONTHS_BEHIND = 2
"""The MVNO publishes a month's records two months after it."""
_MONTH = re.compile(r"(\d{4})(0[1-9]|1[0-2])")


class RecordKind(StrEnum):
    TALK = "talk"
    SMS = "sms"


def file_name(kind: RecordKind, month: str) -> str:
    """`PASI_talk-detail-YYYYMM.csv` for month `YYYYMM`."""
    return f"PASI_{kind.value}-detail-{month}.csv"


def normalize_month(text: str) -> str:
    """`2026-09` or `202609` -> `202609`; ValueError otherwise."""
    compact = text.replace("-", "")
    if not _MONTH.fullmatch(compact):
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    return compact


def months_back(moment: datetime, months: int) -> str:
    """The month (YYYYMM, Japan time) `months` before the one `moment` falls in."""
    local = moment.astimezone(JST)
    index = local.year * 12 + local.month - 1 - months
    return f"{index // 12:04d}{index % 12 + 1:02d}"


def call_records_workflow_id(month: str) -> str:
    return f"call-records-{normalize_month(month)}"


class RecordsPolicy(BaseModel):
    """The worker's RECORDS_* settings, read once when an import starts."""

    check_interval: Duration = timedelta(hours=6)
    wait_deadline: Duration = timedelta(days=20)
    import_attempts: int = Field(default=5, ge=1)


class ImportCallRecordsInput(BaseModel):
    month: str = Field(description="YYYYMM")
    kinds: list[RecordKind] = Field(default_factory=lambda: [RecordKind.TALK, RecordKind.SMS])

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        return normalize_month(value)


class ImportedFile(BaseModel):
    kind: RecordKind
    month: str
    file: str
    size_bytes: int
    sha256: str
    rows: int
    duration_seconds: float


class ImportCallRecordsResult(BaseModel):
    month: str
    files: list[ImportedFile]


class ImportCallRecordsStatus(BaseModel):
    month: str
    imported: list[ImportedFile] = Field(default_factory=list)
    waiting_for: str | None = None
    checks: int = 0


class ScheduledCallRecordsImportInput(BaseModel):
    months_behind: int = Field(
        default=MONTHS_BEHIND, ge=0, description="import the month this many months back"
    )


class ScheduledCallRecordsImportResult(BaseModel):
    month: str
    workflow_id: str
    started: bool
    """False: that month's import is running or has succeeded already; nothing was started."""


class ImportFileRequest(BaseModel):
    kind: RecordKind
    month: str
    """YYYYMM"""


REMOTE_FILE_MISSING = "RemoteFileMissingError"
"""The failure type `import_file` raises when the file is not on the SFTP server yet."""

RECORDS_POLICY = ActivityType("records_policy", type(None), RecordsPolicy)
"""Local: the worker's RECORDS_* settings, recorded in history when an import starts."""
IMPORT_FILE = ActivityType("import_file", ImportFileRequest, ImportedFile)
