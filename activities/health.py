"""Health-check activities: run one integration's check, then record its result.

The check runs on the integration's own task queue (a vendor's rate limit covers its checks
too); recording runs on the base queue. A status change is logged once, as the alert event
"Integration health changed", by the recording that saw it change.
"""

from __future__ import annotations

import logging

from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from contracts.health import (
    CHECK_INTEGRATION,
    RECORD_HEALTH,
    HealthCheckInput,
    HealthCheckResult,
    HealthResult,
    HealthStatus,
)
from integrations.health.probes import HealthProbes
from integrations.health.store import record_result

ALERT_EVENT = "Integration health changed"


class HealthActivities:
    def __init__(self, probes: HealthProbes, pool: AsyncConnectionPool) -> None:
        self._probes = probes
        self._pool = pool

    @activity.defn(name=CHECK_INTEGRATION.name)
    async def check_integration(self, request: HealthCheckInput) -> HealthResult:
        return await self._probes.check(request.integration)

    @activity.defn(name=RECORD_HEALTH.name)
    async def record_health(self, result: HealthResult) -> HealthCheckResult:
        async with self._pool.connection() as connection:
            previous = await record_result(connection, result)
        recorded = HealthCheckResult(result=result, previous=previous)
        if recorded.changed:
            _log_alert(recorded)
        return recorded


def _log_alert(recorded: HealthCheckResult) -> None:
    result = recorded.result
    activity.logger.log(
        logging.INFO if result.status is HealthStatus.OK else logging.WARNING,
        ALERT_EVENT,
        extra={
            "integration": result.integration.value,
            "from": recorded.previous.value if recorded.previous else "unknown",
            "to": result.status.value,
            "latency_ms": result.latency_ms,
            "error": result.error,
        },
    )
