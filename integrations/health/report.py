"""What `GET /health` answers: this process's own dependencies, checked now, and the latest
scheduled result of every integration, read from PostgreSQL.

`status` is "ok" when every dependency is up and every integration's latest result is ok,
else "degraded". `ready` is False when a dependency this process cannot work without is
down (the endpoint then answers 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import psycopg
from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer
from redis.asyncio import Redis
from temporalio.client import Client

from contracts.health import ApiUsage, HealthStatus, Integration
from integrations.config import DatabaseSettings
from integrations.health.probes import DATABASE_CONNECT_TIMEOUT_SECONDS, ping_redis
from integrations.health.store import StoredHealth, latest_results
from integrations.intake_status import IntakeView

DEPENDENCY_TIMEOUT = timedelta(seconds=3)


class Dependency(StrEnum):
    DATABASE = "database"
    REDIS = "redis"
    TEMPORAL = "temporal"


class DependencyState(StrEnum):
    OK = "ok"
    DOWN = "down"


class IntegrationHealth(BaseModel):
    status: HealthStatus
    latency_ms: int
    checked_at: datetime
    since: datetime
    """When the status last changed."""
    error: str | None
    api_usage: ApiUsage | None
    """Salesforce only: the org's daily API requests."""


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    environment: str
    checks: dict[Dependency, DependencyState]
    integrations: dict[Integration, IntegrationHealth]
    role: str | None = None
    """The bridge's: "leader" (subscribed) or "standby"; the worker's report has none."""
    intake: IntakeView | None = None
    """The bridge's Platform Event intake: transport, last replay id, lag."""

    @model_serializer(mode="wrap")
    def _role_only_when_known(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        for bridge_only in ("role", "intake"):
            if getattr(self, bridge_only) is None:
                data.pop(bridge_only, None)
        return data


@dataclass(frozen=True)
class ProcessHealth:
    """The dependencies of one process; `required` are those it cannot work without."""

    environment: str
    database: DatabaseSettings
    redis: Redis
    temporal: Client
    required: Collection[Dependency]
    role: Callable[[], str] | None = None
    intake: Callable[[], IntakeView | None] | None = None

    async def report(self) -> tuple[HealthReport, bool]:
        """The report, and whether every required dependency is up."""
        (database_up, stored), redis_up, temporal_up = await asyncio.gather(
            _stored_results(self.database),
            _answers(ping_redis(self.redis)),
            _answers(self.temporal.service_client.check_health(timeout=DEPENDENCY_TIMEOUT)),
        )
        checks = {
            Dependency.DATABASE: _state(database_up),
            Dependency.REDIS: _state(redis_up),
            Dependency.TEMPORAL: _state(temporal_up),
        }
        integrations = {name: _view(entry) for name, entry in stored.items()}
        healthy = all(state is DependencyState.OK for state in checks.values()) and all(
            entry.status is HealthStatus.OK for entry in integrations.values()
        )
        report = HealthReport(
            status="ok" if healthy else "degraded",
            environment=self.environment,
            checks=checks,
            integrations=integrations,
            role=self.role() if self.role else None,
            intake=self.intake() if self.intake else None,
        )
        ready = all(checks[dependency] is DependencyState.OK for dependency in self.required)
        return report, ready

    async def stored_results(self) -> dict[Integration, StoredHealth]:
        """The latest scheduled results; none when the database cannot be read."""
        return (await _stored_results(self.database))[1]


async def _answers(check: Awaitable[object]) -> bool:
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT.total_seconds()):
            return await check is not False
    except Exception:  # whatever the failure, the dependency is down for this report
        return False


async def _stored_results(
    database: DatabaseSettings,
) -> tuple[bool, dict[Integration, StoredHealth]]:
    """(database up, latest results); up with no results when the table is not there yet."""
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT.total_seconds()):
            async with await psycopg.AsyncConnection.connect(
                database.url, connect_timeout=DATABASE_CONNECT_TIMEOUT_SECONDS, autocommit=True
            ) as connection:
                await connection.execute("SELECT 1")
                try:
                    return True, await latest_results(connection)
                except psycopg.errors.UndefinedTable:
                    return True, {}
    except (psycopg.Error, OSError, TimeoutError):
        return False, {}


def _state(up: bool) -> DependencyState:
    return DependencyState.OK if up else DependencyState.DOWN


def _view(stored: StoredHealth) -> IntegrationHealth:
    result = stored.result
    return IntegrationHealth(
        status=result.status,
        latency_ms=result.latency_ms,
        checked_at=result.checked_at,
        since=stored.since,
        error=result.error,
        api_usage=result.api_usage,
    )
