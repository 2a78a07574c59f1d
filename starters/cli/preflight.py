"""`portalctl preflight [--json] [--with-test-order --test-client-id N]`: every vendor
contract this system relies on, checked against the configured systems before go-live and
after any vendor change.

Needs no Temporal and no worker; the credentials are the worker's (the secret store's active
versions), and no secret is printed. Exit status 1 when any check fails.
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from integrations.config import PlatformEventSettings, load
from integrations.connections import (
    IntegrationSettings,
    active_credentials_or_settings,
    open_vendor_clients,
)
from integrations.preflight.result import CheckResult, CheckStatus
from integrations.preflight.run import run_preflight
from integrations.redis_connection import redis_client
from starters.cli.support import run

STATUS_STYLES = {
    CheckStatus.PASS: "green",
    CheckStatus.FAIL: "bold red",
    CheckStatus.SKIPPED: "yellow",
}


def preflight(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    with_test_order: Annotated[
        bool,
        typer.Option(
            "--with-test-order",
            help="also create a labelled WHMCS test order, read its marker back, cancel it",
        ),
    ] = False,
    test_client_id: Annotated[
        int | None,
        typer.Option("--test-client-id", help="the WHMCS client of the test order"),
    ] = None,
) -> None:
    """Check Salesforce, WHMCS, Freebit, PostgreSQL, Redis and SFTP (when configured)
    against what this system needs of them; exits 1 when any check fails."""
    if with_test_order and test_client_id is None:
        raise typer.BadParameter(
            "--with-test-order needs --test-client-id N", param_hint="--test-client-id"
        )
    results = run(_check_all(test_client_id if with_test_order else None))
    if as_json:
        typer.echo(json.dumps(_as_json(results), indent=2))
    else:
        Console().print(_table(results))
    if not all(result.ok for result in results):
        raise typer.Exit(1)


async def _check_all(test_client_id: int | None) -> list[CheckResult]:
    settings = IntegrationSettings.from_environment()
    events = load(PlatformEventSettings)
    async with AsyncExitStack() as stack:
        redis = redis_client(settings.redis.url)
        stack.push_async_callback(redis.aclose)
        credentials = await active_credentials_or_settings(settings)
        clients = open_vendor_clients(stack, settings, credentials, redis)
        return await run_preflight(
            settings, events, clients, credentials, redis, test_client_id=test_client_id
        )


def _as_json(results: list[CheckResult]) -> dict[str, object]:
    return {
        "ok": all(result.ok for result in results),
        "checks": [result.model_dump(mode="json") for result in results],
    }


def _table(results: list[CheckResult]) -> Table:
    table = Table(title="Preflight checks")
    for column in ("system", "check", "result", "what to do"):
        table.add_column(column)
    for result in results:
        table.add_row(
            result.system,
            result.name,
            Text(f"{result.status.value}: {result.detail}", style=STATUS_STYLES[result.status]),
            Text(result.fix),
        )
    return table
