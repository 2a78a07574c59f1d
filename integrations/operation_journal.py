"""The `freebit_operation_journal` table: what became of each SIM operation's Freebit call.

Freebit has no idempotency key, so a retried attempt must know whether an earlier attempt's
call may have been applied: `sent` (outcome unknown), `not_applied` (refused or never sent),
`done`.
"""

from __future__ import annotations

from enum import StrEnum

from psycopg_pool import AsyncConnectionPool


class CallState(StrEnum):
    SENT = "sent"
    NOT_APPLIED = "not_applied"
    DONE = "done"


class OperationJournal:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def state(self, account: str, op_id: str) -> CallState | None:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT state FROM freebit_operation_journal WHERE account = %s AND op_id = %s",
                (account, op_id),
            )
            row = await cursor.fetchone()
        return CallState(row[0]) if row else None

    async def record(self, account: str, op_id: str, operation: str, state: CallState) -> None:
        async with self._pool.connection() as connection:
            await connection.execute(
                "INSERT INTO freebit_operation_journal (account, op_id, operation, state)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (account, op_id)"
                " DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
                (account, op_id, operation, state.value),
            )
