"""The latest health result per integration, in PostgreSQL (`integration_health`), so that
`/health` in any process shows what the scheduled checks found.

Recording a result returns the status it replaced, read under a row lock in the same
transaction: of two results recorded at once, only one sees the change.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection
from pydantic import BaseModel

from contracts.health import ApiUsage, HealthResult, HealthStatus, Integration

_COLUMNS = "integration, status, latency_ms, checked_at, error, api_usage_used, api_usage_limit"


class StoredHealth(BaseModel):
    result: HealthResult
    since: datetime
    """When the status last changed."""


async def record_result(connection: AsyncConnection, result: HealthResult) -> HealthStatus | None:
    """Store `result` as the integration's latest; return the previous status (None: first)."""
    usage = result.api_usage
    async with connection.transaction():
        cursor = await connection.execute(
            "SELECT status FROM integration_health WHERE integration = %s FOR UPDATE",
            (result.integration,),
        )
        row = await cursor.fetchone()
        previous = HealthStatus(row[0]) if row else None
        await connection.execute(
            f"INSERT INTO integration_health ({_COLUMNS}, changed_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (integration) DO UPDATE SET status = EXCLUDED.status,"
            " latency_ms = EXCLUDED.latency_ms, checked_at = EXCLUDED.checked_at,"
            " error = EXCLUDED.error, api_usage_used = EXCLUDED.api_usage_used,"
            " api_usage_limit = EXCLUDED.api_usage_limit,"
            " changed_at = CASE WHEN integration_health.status = EXCLUDED.status"
            " THEN integration_health.changed_at ELSE EXCLUDED.changed_at END",
            (
                result.integration,
                result.status,
                result.latency_ms,
                result.checked_at,
                result.error,
                usage.used if usage else None,
                usage.limit if usage else None,
                result.checked_at,
            ),
        )
    return previous


async def latest_results(connection: AsyncConnection) -> dict[Integration, StoredHealth]:
    cursor = await connection.execute(
        f"SELECT {_COLUMNS}, changed_at FROM integration_health ORDER BY integration"
    )
    stored: dict[Integration, StoredHealth] = {}
    for name, status, latency_ms, checked_at, error, used, limit, since in await cursor.fetchall():
        result = HealthResult(
            integration=Integration(name),
            status=HealthStatus(status),
            latency_ms=latency_ms,
            checked_at=checked_at,
            error=error,
            api_usage=ApiUsage(used=used, limit=limit) if used is not None else None,
        )
        stored[result.integration] = StoredHealth(result=result, since=since)
    return stored
