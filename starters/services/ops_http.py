"""The operations endpoint of the worker and the bridge: `GET /health` and `GET /metrics`.

Served on OPS_HTTP_HOST at WORKER_HTTP_PORT (9000) / BRIDGE_HTTP_PORT (9001); port 0 turns
it off. `/health` answers 503 when a dependency the process needs is down: the worker needs
PostgreSQL, Redis and Temporal; the bridge needs Redis (its replay ids) and Temporal (it
keeps running without them, but hands over or remembers nothing, so it is not ready).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog
import uvicorn
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.client import Client
from temporalio.runtime import Runtime

from integrations.config import ConfigurationError, DatabaseSettings, OpsSettings, load
from integrations.health.report import Dependency, ProcessHealth
from integrations.intake_status import INTAKE_STATUS
from integrations.metrics import (
    free_loopback_port,
    health_exposition,
    process_exposition,
    temporal_exposition,
    temporal_metrics_runtime,
)
from integrations.redis_connection import redis_client
from integrations.workflow_gauges import WorkflowGauges

log = structlog.get_logger(__name__)

WORKER_NEEDS = (Dependency.DATABASE, Dependency.REDIS, Dependency.TEMPORAL)
BRIDGE_NEEDS = (Dependency.REDIS, Dependency.TEMPORAL)


def ops_app(
    health: ProcessHealth,
    temporal_metrics_port: int | None = None,
    *,
    workflow_gauges: bool = False,
) -> Starlette:
    gauges = WorkflowGauges(health.temporal) if workflow_gauges else None

    async def health_endpoint(_: Request) -> Response:
        report, ready = await health.report()
        return JSONResponse(report.model_dump(mode="json"), status_code=200 if ready else 503)

    async def metrics_endpoint(_: Request) -> Response:
        parts = [process_exposition(), health_exposition(await health.stored_results())]
        if temporal_metrics_port is not None:
            async with httpx.AsyncClient() as http:
                parts.append(await temporal_exposition(http, temporal_metrics_port))
        if gauges is not None:
            parts.append(await gauges.exposition(datetime.now(UTC)))
        return Response(b"".join(parts), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return Starlette(
        routes=[
            Route("/health", health_endpoint, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )


class _EmbeddedServer(uvicorn.Server):
    """Leaves SIGINT and SIGTERM to the process it is part of."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (0: a free port); OSError when that is not possible."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


@contextlib.asynccontextmanager
async def serving(app: Starlette, listener: socket.socket) -> AsyncIterator[int]:
    """Serve `app` on the bound `listener` during the block; yield its port."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = _EmbeddedServer(config)
    serve = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        # uvicorn tells that it is listening only through `started`.
        while not server.started and not serve.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if serve.done():
            serve.result()
        port: int = listener.getsockname()[1]
        yield port
    finally:
        server.should_exit = True
        await serve
        listener.close()


@dataclass(frozen=True)
class OpsEndpoint:
    """A process's /health and /metrics; create it before the process's first Temporal
    client, so that the SDK's metrics are exported for /metrics (unless the port is 0)."""

    settings: OpsSettings
    port: int
    port_setting: str
    needs: tuple[Dependency, ...]
    temporal_metrics_port: int | None
    workflow_gauges: bool = False
    """Failed orders and running rotations from Temporal's visibility (the worker's)."""
    reports_intake: bool = False
    """The Platform Event intake in /health (the bridge's)."""

    @classmethod
    def for_worker(cls) -> OpsEndpoint:
        settings = load(OpsSettings)
        endpoint = cls._prepared(settings, settings.worker_port, "WORKER_HTTP_PORT", WORKER_NEEDS)
        return dataclasses.replace(endpoint, workflow_gauges=True)

    @classmethod
    def for_bridge(cls) -> OpsEndpoint:
        settings = load(OpsSettings)
        endpoint = cls._prepared(settings, settings.bridge_port, "BRIDGE_HTTP_PORT", BRIDGE_NEEDS)
        return dataclasses.replace(endpoint, reports_intake=True)

    @classmethod
    def _prepared(
        cls, settings: OpsSettings, port: int, port_setting: str, needs: tuple[Dependency, ...]
    ) -> OpsEndpoint:
        exporter_port = None
        if port != 0:
            exporter_port = free_loopback_port()
            Runtime.set_default(temporal_metrics_runtime(exporter_port))
        return cls(settings, port, port_setting, needs, exporter_port)

    @contextlib.asynccontextmanager
    async def serving(
        self,
        temporal: Client,
        database: DatabaseSettings,
        redis_url: str,
        role: Callable[[], str] | None = None,
    ) -> AsyncIterator[None]:
        """Serve during the block (nothing when the port is 0); `role`: the bridge's, shown
        in /health."""
        if self.port == 0:
            yield
            return
        try:
            listener = listen(self.settings.host, self.port)
        except OSError as error:
            raise ConfigurationError(
                f"configuration error: {self.port_setting}={self.port}: cannot listen on "
                f"{self.settings.host}:{self.port} (OPS_HTTP_HOST): {error.strerror}"
            ) from None
        health = ProcessHealth(
            environment=self.settings.portal_environment,
            database=database,
            redis=redis_client(redis_url),
            temporal=temporal,
            required=self.needs,
            role=role,
            intake=INTAKE_STATUS.view if self.reports_intake else None,
        )
        try:
            app = ops_app(
                health,
                self.temporal_metrics_port,
                workflow_gauges=self.workflow_gauges,
            )
            async with serving(app, listener):
                log.info("Serving /health and /metrics", host=self.settings.host, port=self.port)
                yield
        finally:
            await health.redis.aclose()
