"""The `whmcs_order_journal` table: what became of each Salesforce Order's WHMCS AddOrder.

WHMCS's AddOrder takes no idempotency key. A request that timed out may have created the
order, or may still be running on the WHMCS host; the journal, written before the request is
sent, is what lets the next attempt (or a manual retry days later) know that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import LiteralString

from psycopg_pool import AsyncConnectionPool

from integrations.operation_journal import CallState


@dataclass(frozen=True)
class JournalEntry:
    client_id: int
    state: CallState
    sent_at: datetime
    whmcs_order_id: int | None


class WhmcsOrderJournal:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def entry(self, sf_order_id: str) -> JournalEntry | None:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT client_id, state, sent_at, whmcs_order_id FROM whmcs_order_journal"
                " WHERE sf_order_id = %s",
                (sf_order_id,),
            )
            row = await cursor.fetchone()
        return None if row is None else JournalEntry(row[0], CallState(row[1]), row[2], row[3])

    async def sent(self, sf_order_id: str, client_id: int) -> None:
        await self._write(
            "INSERT INTO whmcs_order_journal (sf_order_id, client_id, state)"
            " VALUES (%s, %s, 'sent') ON CONFLICT (sf_order_id) DO UPDATE SET"
            " client_id = EXCLUDED.client_id, state = 'sent', sent_at = now(),"
            " whmcs_order_id = NULL, updated_at = now()",
            (sf_order_id, client_id),
        )

    async def not_applied(self, sf_order_id: str) -> bool:
        return await self._write(
            "UPDATE whmcs_order_journal SET state = 'not_applied', whmcs_order_id = NULL,"
            " updated_at = now() WHERE sf_order_id = %s",
            (sf_order_id,),
        )

    async def done(self, sf_order_id: str, whmcs_order_id: int) -> bool:
        return await self._write(
            "UPDATE whmcs_order_journal SET state = 'done', whmcs_order_id = %s,"
            " updated_at = now() WHERE sf_order_id = %s",
            (whmcs_order_id, sf_order_id),
        )

    async def _write(self, statement: LiteralString, values: tuple[object, ...]) -> bool:
        """True when a row was written (an update of an order never sent writes none)."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(statement, values)
            return cursor.rowcount > 0
