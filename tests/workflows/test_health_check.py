"""`HealthCheck` with the real worker and clients, the WHMCS emulator and PostgreSQL: results
are stored for /health and a status change is logged once, as one alert event."""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.health import ALERT_EVENT, HealthActivities
from contracts.health import (
    HealthCheckInput,
    HealthCheckResult,
    HealthResult,
    HealthStatus,
    Integration,
)
from emulators.faults import Fault, FaultKind
from integrations.config import DatabaseSettings, RedisSettings
from integrations.database import open_pool
from integrations.health.probes import HealthProbes
from integrations.health.status import LatencyThresholds
from integrations.health.store import StoredHealth, latest_results
from integrations.redis_connection import redis_client
from starters.demo.local_vendors import LocalVendors
from tests.conftest import TEST_REDIS_URL, SaveHistory
from tests.support.temporal import deployment_for
from workers.dependencies import Integrations
from workers.worker import running_workers
from workflows.health_check import HealthCheck

NEVER_SLOW = LatencyThresholds(warning=timedelta(minutes=1), critical=timedelta(minutes=2))


@pytest.fixture
async def pool(database: DatabaseSettings) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(database)
    async with pool.connection() as connection:
        await connection.execute("TRUNCATE integration_health")
    yield pool
    await pool.close()


@pytest.fixture
async def health(
    integrations: Integrations, database: DatabaseSettings, pool: AsyncConnectionPool
) -> AsyncIterator[HealthActivities]:
    """The worker's health activities, with thresholds no busy machine reaches."""
    redis = redis_client(RedisSettings(REDIS_URL=TEST_REDIS_URL).url)
    probes = HealthProbes(
        salesforce=integrations.salesforce,
        whmcs=integrations.whmcs,
        freebit=integrations.freebit,
        redis=redis,
        database=database,
        sftp_settings=None,
        thresholds=dict.fromkeys(Integration, NEVER_SLOW),
    )
    yield HealthActivities(probes, pool)
    await redis.aclose()


@pytest.fixture
async def health_worker(
    env: WorkflowEnvironment,
    task_queue: str,
    integrations: Integrations,
    health: HealthActivities,
    vendors: LocalVendors,
) -> AsyncIterator[None]:
    async with running_workers(
        env.client,
        task_queue,
        dataclasses.replace(integrations, health=health),
        deployment_for(task_queue),
    ):
        yield


async def _run_check(
    env: WorkflowEnvironment, task_queue: str, integration: Integration
) -> HealthCheckResult:
    return await env.client.execute_workflow(
        HealthCheck.run,
        HealthCheckInput(integration=integration),
        id=f"health-{integration}-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )


async def _stored(pool: AsyncConnectionPool) -> dict[Integration, StoredHealth]:
    async with pool.connection() as connection:
        return await latest_results(connection)


def _alerts(log: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line["event"] == ALERT_EVENT]


@pytest.mark.usefixtures("health_worker")
async def test_a_status_change_is_alerted_once_and_stored(
    env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    pool: AsyncConnectionPool,
    json_log: io.StringIO,
    save_history: SaveHistory,
) -> None:
    statuses = [(await _run_check(env, task_queue, Integration.WHMCS)).result.status]
    vendors.whmcs.inject(Fault(target="GetClients", kind=FaultKind.HTTP_503, times=2))
    for _ in range(2):
        statuses.append((await _run_check(env, task_queue, Integration.WHMCS)).result.status)
    handle = await env.client.start_workflow(
        HealthCheck.run,
        HealthCheckInput(integration=Integration.WHMCS),
        id=f"health-whmcs-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )
    recovered = await handle.result()
    await save_history(handle, "health_check_recovered")
    statuses.append(recovered.result.status)

    assert statuses == ["ok", "down", "down", "ok"]
    assert recovered.previous is HealthStatus.DOWN
    alerts = _alerts(json_log)
    assert [(alert["from"], alert["to"]) for alert in alerts] == [("ok", "down"), ("down", "ok")]
    assert alerts[0]["level"] == "warning"
    assert alerts[0]["integration"] == "whmcs"
    assert alerts[0]["error"] == "503 GetClients failed with HTTP 503"
    stored = (await _stored(pool))[Integration.WHMCS]
    assert stored.result == recovered.result
    assert stored.since == recovered.result.checked_at


@pytest.mark.usefixtures("health_worker")
async def test_each_check_runs_on_its_systems_queue(
    env: WorkflowEnvironment, task_queue: str, pool: AsyncConnectionPool
) -> None:
    checked = [Integration.SALESFORCE, Integration.FREEBIT, Integration.REDIS, Integration.DATABASE]
    for integration in checked:
        result = (await _run_check(env, task_queue, integration)).result
        assert (integration, result.status, result.error) == (integration, HealthStatus.OK, None)

    stored = await _stored(pool)
    assert set(stored) == set(checked)
    usage = stored[Integration.SALESFORCE].result.api_usage
    assert usage is not None
    assert usage.limit == 15_000


async def test_a_check_no_worker_runs_is_recorded_as_down(
    env: WorkflowEnvironment,
    task_queue: str,
    health: HealthActivities,
    pool: AsyncConnectionPool,
    save_history: SaveHistory,
) -> None:
    """Only the base queue is served: the WHMCS check is never picked up."""
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[HealthCheck],
        activities=[health.record_health],
    ):
        handle = await env.client.start_workflow(
            HealthCheck.run,
            # Short: the test server does not skip time for an activity nobody picked up.
            HealthCheckInput(integration=Integration.WHMCS, check_timeout=timedelta(seconds=2)),
            id=f"health-whmcs-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        recorded = await handle.result()
        await save_history(handle, "health_check_not_picked_up")

    assert recorded.result.status is HealthStatus.DOWN
    assert recorded.result.error is not None
    assert recorded.result.error.startswith("the check did not complete")
    assert (await _stored(pool))[Integration.WHMCS].result.status is HealthStatus.DOWN


def _result(status: HealthStatus) -> HealthResult:
    return HealthResult(
        integration=Integration.REDIS, status=status, latency_ms=1, checked_at=datetime.now(UTC)
    )


async def test_every_change_is_logged_once_whatever_the_direction(
    health: HealthActivities, database: DatabaseSettings, json_log: io.StringIO
) -> None:
    sequence = ["ok", "warning", "warning", "critical", "down", "ok", "ok"]
    environment = ActivityEnvironment()
    for status in sequence:
        await environment.run(health.record_health, _result(HealthStatus(status)))

    changes = [(alert["from"], alert["to"]) for alert in _alerts(json_log)]
    assert changes == [
        ("ok", "warning"),
        ("warning", "critical"),
        ("critical", "down"),
        ("down", "ok"),
    ]
    with psycopg.connect(database.url) as connection:
        row = connection.execute(
            "SELECT status FROM integration_health WHERE integration = 'redis'"
        ).fetchone()
    assert row == ("ok",)


async def test_a_first_result_that_is_not_ok_is_an_alert(
    health: HealthActivities, json_log: io.StringIO
) -> None:
    await ActivityEnvironment().run(health.record_health, _result(HealthStatus.CRITICAL))

    assert [(a["from"], a["to"]) for a in _alerts(json_log)] == [("unknown", "critical")]
