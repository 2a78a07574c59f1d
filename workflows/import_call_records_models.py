"""Input, output and query models of the `ImportCallRecords` workflow."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, Field, field_validator

from integrations.call_records.format import JST, RecordKind
from integrations.call_records.loader import ImportedFile
from integrations.config import Duration

_MONTH = re.compile(r"(\d{4})(0[1-9]|1[0-2])")


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
    """Read from RECORDS_* settings by whoever starts the workflow."""

    check_interval: Duration = timedelta(hours=6)
    wait_deadline: Duration = timedelta(days=20)
    import_attempts: int = Field(default=5, ge=1)


class ImportCallRecordsInput(BaseModel):
    month: str = Field(description="YYYYMM")
    kinds: list[RecordKind] = Field(default_factory=lambda: [RecordKind.TALK, RecordKind.SMS])
    policy: RecordsPolicy = RecordsPolicy()

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        return normalize_month(value)


class ImportCallRecordsResult(BaseModel):
    month: str
    files: list[ImportedFile]


class ImportCallRecordsStatus(BaseModel):
    month: str
    imported: list[ImportedFile] = Field(default_factory=list)
    waiting_for: str | None = None
    checks: int = 0


MONTHS_BEHIND = 2
"""The MVNO publishes a month's records two months after it."""


class ScheduledCallRecordsImportInput(BaseModel):
    months_behind: int = Field(
        default=MONTHS_BEHIND, ge=0, description="import the month this many months back"
    )
    policy: RecordsPolicy = RecordsPolicy()


class ScheduledCallRecordsImportResult(BaseModel):
    month: str
    workflow_id: str
    started: bool
    """False: that month's import is running or has succeeded already; nothing was started."""
