"""`HealthCheck`: what a check finds, and its two activities."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from contracts.activity_type import ActivityType
from contracts.durations import Duration


class Integration(StrEnum):
    SALESFORCE = "salesforce"
    WHMCS = "whmcs"
    FREEBIT = "freebit"
    REDIS = "redis"
    DATABASE = "database"
    SFTP = "sftp"


class HealthStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    DOWN = "down"

    @property
    def level(self) -> int:
        """0 ok, 1 warning, 2 critical, 3 down (the `portal_integration_health_status` value)."""
        return list(HealthStatus).index(self)


class ApiUsage(BaseModel):
    """Salesforce's daily API requests, from the `Sforce-Limit-Info` header."""

    used: int
    limit: int


class HealthResult(BaseModel):
    integration: Integration
    status: HealthStatus
    latency_ms: int = Field(ge=0)
    checked_at: datetime
    error: str | None = None
    api_usage: ApiUsage | None = None


class HealthCheckInput(BaseModel):
    integration: Integration
    check_timeout: Duration = Field(
        default=timedelta(minutes=2),
        description="how long the check may wait for a worker and run before it counts as down",
    )


class HealthCheckResult(BaseModel):
    result: HealthResult
    previous: HealthStatus | None
    """The stored status this result replaced; None for an integration's first result."""

    @property
    def changed(self) -> bool:
        """A first result counts as a change only when it is not ok."""
        return self.result.status is not (self.previous or HealthStatus.OK)


CHECK_INTEGRATION = ActivityType("check_integration", HealthCheckInput, HealthResult)
RECORD_HEALTH = ActivityType("record_health", HealthResult, HealthCheckResult)
