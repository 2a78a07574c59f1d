"""What a health check finds, and how its response time is judged.

The thresholds are the External Dependencies Runbook's "Alerting Thresholds" table (response
time, warning / critical); the runbook gives none for SFTP, so an SFTP check is ok or down.
A check that fails is `down`, whatever its response time.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from contracts.health import HealthStatus, Integration


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
