"""`GET /health` and `GET /metrics` of the worker and the bridge, over HTTP, with the dev
server, PostgreSQL and a Redis server this test stops."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.error_mapping import IntegrationErrorInterceptor
from activities.metrics import ActivityMetricsInterceptor
from contracts.health import ApiUsage, HealthResult, HealthStatus, Integration
from integrations.config import DatabaseSettings
from integrations.errors import TransientError
from integrations.freebit.token_cache import FreebitTokenCache
from integrations.health.report import Dependency, ProcessHealth
from integrations.health.store import record_result
from integrations.metrics import free_loopback_port, temporal_metrics_runtime
from integrations.redis_connection import redis_client
from starters.demo.redis_server import RedisServer, running_redis_server
from starters.services.ops_http import BRIDGE_NEEDS, WORKER_NEEDS, listen, ops_app, serving

NOWHERE = DatabaseSettings(DATABASE_URL="postgresql://postgres@127.0.0.1:1/postgres")
CHECKED_AT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
SALESFORCE_OK = HealthResult(
    integration=Integration.SALESFORCE,
    status=HealthStatus.OK,
    latency_ms=180,
    checked_at=CHECKED_AT,
    api_usage=ApiUsage(used=1234, limit=15_000),
)
WHMCS_CRITICAL = HealthResult(
    integration=Integration.WHMCS,
    status=HealthStatus.CRITICAL,
    latency_ms=6100,
    checked_at=CHECKED_AT,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


async def _store(database: DatabaseSettings, *results: HealthResult) -> None:
    async with await psycopg.AsyncConnection.connect(database.url) as connection:
        await connection.execute("TRUNCATE integration_health")
        for result in results:
            await record_result(connection, result)


class Endpoint:
    def __init__(self, client: Client, redis_server: RedisServer) -> None:
        self._client = client
        self._redis_server = redis_server

    async def get(
        self,
        path: str,
        *,
        database: DatabaseSettings,
        needs: tuple[Dependency, ...] = WORKER_NEEDS,
        temporal_metrics_port: int | None = None,
    ) -> httpx.Response:
        redis = redis_client(self._redis_server.url)
        health = ProcessHealth(
            environment="staging",
            database=database,
            redis=redis,
            temporal=self._client,
            required=needs,
        )
        try:
            app = ops_app(health, temporal_metrics_port)
            async with serving(app, listen("127.0.0.1", 0)) as port, httpx.AsyncClient() as http:
                return await http.get(f"http://127.0.0.1:{port}{path}")
        finally:
            await redis.aclose()


@pytest.fixture
def endpoint(dev_env: WorkflowEnvironment, redis_server: RedisServer) -> Endpoint:
    return Endpoint(dev_env.client, redis_server)


async def test_health_shows_dependencies_and_stored_results(
    endpoint: Endpoint, database: DatabaseSettings
) -> None:
    await _store(database, SALESFORCE_OK)

    response = await endpoint.get("/health", database=database)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "environment": "staging",
        "checks": {"database": "ok", "redis": "ok", "temporal": "ok"},
        "integrations": {
            "salesforce": {
                "status": "ok",
                "latency_ms": 180,
                "checked_at": "2026-05-01T09:30:00Z",
                "since": "2026-05-01T09:30:00Z",
                "error": None,
                "api_usage": {"used": 1234, "limit": 15000},
            }
        },
    }


async def test_an_unhealthy_integration_degrades_but_does_not_fail_the_process(
    endpoint: Endpoint, database: DatabaseSettings
) -> None:
    await _store(database, SALESFORCE_OK, WHMCS_CRITICAL)

    response = await endpoint.get("/health", database=database)

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["integrations"]["whmcs"]["status"] == "critical"


async def test_redis_down_makes_the_worker_and_the_bridge_unavailable(
    endpoint: Endpoint, database: DatabaseSettings, redis_server: RedisServer
) -> None:
    await _store(database, SALESFORCE_OK)
    redis_server.stop()
    try:
        worker = await endpoint.get("/health", database=database)
        bridge = await endpoint.get("/health", database=database, needs=BRIDGE_NEEDS)
    finally:
        redis_server.start()

    assert (worker.status_code, bridge.status_code) == (503, 503)
    body = worker.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"database": "ok", "redis": "down", "temporal": "ok"}
    assert (await endpoint.get("/health", database=database)).status_code == 200


async def test_database_down_fails_the_worker_only(endpoint: Endpoint) -> None:
    worker = await endpoint.get("/health", database=NOWHERE)
    bridge = await endpoint.get("/health", database=NOWHERE, needs=BRIDGE_NEEDS)

    assert (worker.status_code, bridge.status_code) == (503, 200)
    assert bridge.json()["checks"]["database"] == "down"
    assert bridge.json()["integrations"] == {}


FAILING_QUEUE_SUFFIX = "-whmcs"


@activity.defn
async def add_order_like_whmcs() -> None:
    raise TransientError("503", "AddOrder failed with HTTP 503")


@workflow.defn(sandboxed=False)
class CallsWhmcsOnce:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            add_order_like_whmcs,
            task_queue=workflow.info().task_queue + FAILING_QUEUE_SUFFIX,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@pytest.fixture
async def metered_client(dev_env: WorkflowEnvironment) -> tuple[Client, int]:
    """A client whose runtime exports the SDK's metrics, as `portalctl worker` sets it up."""
    port = free_loopback_port()
    config = dev_env.client.service_client.config
    client = await Client.connect(
        config.target_host,
        namespace=dev_env.client.namespace,
        runtime=temporal_metrics_runtime(port),
        data_converter=pydantic_data_converter,
    )
    return client, port


def _samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def _before(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_expose_the_integration_and_temporal_series(
    endpoint: Endpoint, database: DatabaseSettings, metered_client: tuple[Client, int]
) -> None:
    client, temporal_port = metered_client
    errors = {"integration": "whmcs", "code": "503"}
    durations = {"integration": "whmcs", "operation": "add_order_like_whmcs"}
    errors_before = _before("portal_integration_errors_total", **errors)
    calls_before = _before("portal_integration_request_seconds_count", **durations)
    misses_before = _before("portal_freebit_token_cache_total", result="miss")
    hits_before = _before("portal_freebit_token_cache_total", result="hit")
    await _store(database, SALESFORCE_OK, WHMCS_CRITICAL)
    cache = FreebitTokenCache(None, timedelta(minutes=5))
    for _ in range(2):
        await cache.auth_key(_issue_auth_key)
    task_queue = f"metrics-{uuid.uuid4()}"
    interceptors: list[Any] = [IntegrationErrorInterceptor(), ActivityMetricsInterceptor()]
    async with (
        Worker(
            client,
            task_queue=task_queue,
            workflows=[CallsWhmcsOnce],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
        Worker(
            client,
            task_queue=task_queue + FAILING_QUEUE_SUFFIX,
            activities=[add_order_like_whmcs],
            interceptors=interceptors,
        ),
    ):
        with pytest.raises(WorkflowFailureError):
            # By name: passing the no-argument `CallsWhmcsOnce.run` here trips a mypy
            # overload-inference bug that breaks `get_workflow_handle_for` in other modules.
            await client.execute_workflow(
                "CallsWhmcsOnce", id=f"metrics-{uuid.uuid4()}", task_queue=task_queue
            )

    response = await endpoint.get(
        "/metrics", database=database, temporal_metrics_port=temporal_port
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("portal_integration_errors_total", **errors) == errors_before + 1
    assert value("portal_integration_request_seconds_count", **durations) == calls_before + 1
    assert value("portal_freebit_token_cache_total", result="miss") == misses_before + 1
    assert value("portal_freebit_token_cache_total", result="hit") == hits_before + 1
    assert value("portal_integration_health_status", integration="salesforce") == 0
    assert value("portal_integration_health_status", integration="whmcs") == 2
    assert value("portal_integration_health_latency_seconds", integration="whmcs") == 6.1
    assert value("portal_salesforce_api_usage", kind="used") == 1234
    assert value("portal_salesforce_api_usage", kind="limit") == 15_000
    temporal_series = {name for name, _ in samples if name.startswith("temporal_")}
    assert "temporal_workflow_failed_total" in temporal_series
    assert "temporal_activity_execution_failed_total" in temporal_series


async def _issue_auth_key() -> str:
    return "auth-key"
