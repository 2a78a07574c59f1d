"""`portalctl health [--json]`: every health check once, now, from this machine.

Needs no Temporal and no worker: the checks run here, through the production clients, with
the credentials the worker uses (the secret store's active versions). Exit status 1 when
any system is down.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from contracts.health import HealthResult, HealthStatus
from integrations.connections import (
    IntegrationSettings,
    active_credentials_or_settings,
    open_vendor_clients,
)
from integrations.health.probes import HealthProbes
from integrations.health.status import SEED_THRESHOLDS
from integrations.redis_connection import redis_client
from starters.cli.support import run

STATUS_STYLES = {
    HealthStatus.OK: "green",
    HealthStatus.WARNING: "yellow",
    HealthStatus.CRITICAL: "red",
    HealthStatus.DOWN: "bold red",
}


def health(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Check Salesforce, WHMCS, Freebit, Redis, PostgreSQL and SFTP (when configured) once.

    Response times are judged against the runbook's thresholds (warning / critical);
    exits 1 when any of them is down.
    """
    results = run(_check_all(IntegrationSettings.from_environment()))
    if as_json:
        typer.echo(json.dumps(_as_json(results), indent=2))
    else:
        Console().print(_table(results))
    if any(result.status is HealthStatus.DOWN for result in results):
        raise typer.Exit(1)


async def _check_all(settings: IntegrationSettings) -> list[HealthResult]:
    async with _opened_probes(settings) as probes:
        return list(await asyncio.gather(*map(probes.check, probes.integrations)))


@asynccontextmanager
async def _opened_probes(settings: IntegrationSettings) -> AsyncIterator[HealthProbes]:
    async with AsyncExitStack() as stack:
        redis = redis_client(settings.redis.url)
        stack.push_async_callback(redis.aclose)
        credentials = await active_credentials_or_settings(settings)
        clients = open_vendor_clients(stack, settings, credentials, redis)
        yield clients.health_probes(settings, redis)


def _as_json(results: list[HealthResult]) -> dict[str, object]:
    return {
        result.integration.value: result.model_dump(mode="json", exclude={"integration"})
        for result in results
    }


def _table(results: list[HealthResult]) -> Table:
    table = Table(title="Health checks")
    for column in ("system", "status", "latency", "warning / critical", "details"):
        table.add_column(column)
    for result in results:
        thresholds = SEED_THRESHOLDS[result.integration]
        limits = (
            f"> {_ms(thresholds.warning.total_seconds())} / "
            f"> {_ms(thresholds.critical.total_seconds())}"
            if thresholds
            else "-"
        )
        usage = result.api_usage
        details = result.error or (f"API usage {usage.used}/{usage.limit}" if usage else "")
        table.add_row(
            result.integration.value,
            Text(result.status.value, style=STATUS_STYLES[result.status]),
            f"{result.latency_ms} ms",
            limits,
            Text(details),
        )
    return table


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)} ms"
