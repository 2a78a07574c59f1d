"""The `id_mappings` table: portal user id <-> WHMCS client id <-> Salesforce Account id."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel


class IdMapping(BaseModel):
    user_id: str
    whmcs_client_id: int
    sf_account_id: str | None


class IdMappings:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def find_by_sf_account(self, sf_account_id: str) -> IdMapping | None:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT user_id, whmcs_client_id, sf_account_id FROM id_mappings"
                " WHERE sf_account_id = %s",
                (sf_account_id,),
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        return IdMapping(user_id=row[0], whmcs_client_id=row[1], sf_account_id=row[2])

    async def upsert(self, mapping: IdMapping) -> None:
        async with self._pool.connection() as connection:
            await connection.execute(
                "INSERT INTO id_mappings (user_id, whmcs_client_id, sf_account_id)"
                " VALUES (%s, %s, %s)"
                " ON CONFLICT (user_id) DO UPDATE SET whmcs_client_id = EXCLUDED.whmcs_client_id,"
                " sf_account_id = EXCLUDED.sf_account_id, updated_at = now()",
                (mapping.user_id, mapping.whmcs_client_id, mapping.sf_account_id),
            )
