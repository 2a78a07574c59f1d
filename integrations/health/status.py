"""What a health check finds, and how its response time is judged.

The thresholds are the External Dependencies Runbook's "Alerting Thresholds" table (response
time, warning / critical); the runbook gives none for SFTP, so an SFTP check is ok or down.
A check that fails is `down`, whatever its response time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field


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


class LatencyThresholds(BaseModel):
    """Slower than `warning` is a warning, slower than `critical` is critical."""

    warning: timedelta
    critical: timedelta


SEED_THRESHOLDS: dict[Integration, LatencyThresholds | None] = {
    Integration.SALESFORCE: LatencyThresholds(
        warning=timedelta(seconds=2), critical=timedelta(seconds=5)
    ),
    Integration.WHMCS: LatencyThresholds(
        warning=timedelta(seconds=2), critical=timedelta(seconds=5)
    ),
    Integration.FREEBIT: LatencyThresholds(
        warning=timedelta(seconds=3), critical=timedelta(seconds=10)
    ),
    Integration.REDIS: LatencyThresholds(
        warning=timedelta(milliseconds=100), critical=timedelta(milliseconds=500)
    ),
    Integration.DATABASE: LatencyThresholds(
        warning=timedelta(milliseconds=500), critical=timedelta(seconds=2)
    ),
    Integration.SFTP: None,
}


def classify(latency: timedelta, thresholds: LatencyThresholds | None) -> HealthStatus:
    if thresholds is None or latency <= thresholds.warning:
        return HealthStatus.OK
    if latency <= thresholds.critical:
        return HealthStatus.WARNING
    return HealthStatus.CRITICAL


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
