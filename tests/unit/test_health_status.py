"""Classification of a check's response time against the runbook's alerting thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.health import HealthCheckResult, HealthResult, HealthStatus, Integration
from integrations.health.status import SEED_THRESHOLDS, classify


@pytest.mark.parametrize(
    ("integration", "latency", "expected"),
    [
        (Integration.SALESFORCE, timedelta(seconds=2), HealthStatus.OK),
        (Integration.SALESFORCE, timedelta(seconds=2.001), HealthStatus.WARNING),
        (Integration.SALESFORCE, timedelta(seconds=5.001), HealthStatus.CRITICAL),
        (Integration.WHMCS, timedelta(seconds=4.9), HealthStatus.WARNING),
        (Integration.FREEBIT, timedelta(seconds=2.9), HealthStatus.OK),
        (Integration.FREEBIT, timedelta(seconds=9.9), HealthStatus.WARNING),
        (Integration.FREEBIT, timedelta(seconds=10.1), HealthStatus.CRITICAL),
        (Integration.REDIS, timedelta(milliseconds=101), HealthStatus.WARNING),
        (Integration.REDIS, timedelta(milliseconds=501), HealthStatus.CRITICAL),
        (Integration.DATABASE, timedelta(milliseconds=499), HealthStatus.OK),
        (Integration.DATABASE, timedelta(milliseconds=501), HealthStatus.WARNING),
        (Integration.DATABASE, timedelta(seconds=2.1), HealthStatus.CRITICAL),
        (Integration.SFTP, timedelta(minutes=1), HealthStatus.OK),
    ],
)
def test_seed_thresholds(
    integration: Integration, latency: timedelta, expected: HealthStatus
) -> None:
    assert classify(latency, SEED_THRESHOLDS[integration]) is expected


def test_status_levels_rise_with_severity() -> None:
    assert [status.level for status in HealthStatus] == [0, 1, 2, 3]
    assert HealthStatus.DOWN.level == 3


def _recorded(status: HealthStatus, previous: HealthStatus | None) -> HealthCheckResult:
    result = HealthResult(
        integration=Integration.WHMCS, status=status, latency_ms=1, checked_at=datetime.now(UTC)
    )
    return HealthCheckResult(result=result, previous=previous)


def test_a_first_result_is_a_change_only_when_not_ok() -> None:
    assert not _recorded(HealthStatus.OK, None).changed
    assert _recorded(HealthStatus.DOWN, None).changed
    assert _recorded(HealthStatus.WARNING, HealthStatus.OK).changed
    assert not _recorded(HealthStatus.CRITICAL, HealthStatus.CRITICAL).changed
