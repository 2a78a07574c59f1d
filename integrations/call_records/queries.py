"""What the portal reads: one account's call and SMS records of one month."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import class_row
from pydantic import BaseModel


class AccountRecord(BaseModel):
    kind: str
    occurred_at: datetime
    counterpart: str
    direction: str
    detail: str
    duration_seconds: int | None
    charge_yen: int


async def account_month_records(
    connection: AsyncConnection, account: str, month: str
) -> list[AccountRecord]:
    """Calls and SMS of `account` in `month` (YYYYMM), oldest first (uses the account index)."""
    async with connection.cursor(row_factory=class_row(AccountRecord)) as cursor:
        await cursor.execute(
            "SELECT kind, occurred_at, counterpart, direction, detail, duration_seconds,"
            " charge_yen FROM account_monthly_records WHERE account = %s AND month = %s"
            " ORDER BY occurred_at, kind",
            (account, month),
        )
        return await cursor.fetchall()
