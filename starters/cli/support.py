"""What every `portalctl` command shares: running async code, settings, the Temporal client,
and turning a configuration mistake into one line instead of a traceback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import typer
from psycopg.conninfo import conninfo_to_dict
from psycopg.errors import UndefinedTable
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from temporalio.client import Client

from contracts.rotation import CredentialKind
from integrations.config import (
    ConfigurationError,
    DatabaseSettings,
    LoggingSettings,
    PayloadEncryptionSettings,
    PlatformEventSettings,
    SalesforceSettings,
    SecretsSettings,
    TemporalSettings,
    load,
)
from integrations.database import open_pool
from integrations.leader_lease import Fence
from integrations.logging import configure_logging
from integrations.salesforce.streaming import PlatformEvent
from integrations.secrets.bootstrap import SeedCredentials, open_credentials
from integrations.startup import STARTUP_EXIT_CODE, StartupError, StartupSettings, with_retry
from integrations.temporal import client_config, connect
from starters.bridge.event_bridge import EventBridge, opened_bridge
from starters.bridge.intake import IntakeOutcome
from starters.bridge.replay_range import ReplayRange

ResultT = TypeVar("ResultT")

CONFIGURATION_EXIT_CODE = 2


def run(coroutine: Coroutine[Any, Any, ResultT]) -> ResultT:
    """Run a command's coroutine; configuration errors exit 2, a required dependency that
    stayed unreachable at start-up exits 3, each with its one line."""
    try:
        configure_logging(load(LoggingSettings))
        return asyncio.run(coroutine)
    except ConfigurationError as error:
        coroutine.close()
        typer.secho(str(error), err=True, fg=typer.colors.RED)
        raise typer.Exit(CONFIGURATION_EXIT_CODE) from None
    except StartupError as error:
        typer.secho(str(error), err=True, fg=typer.colors.RED)
        raise typer.Exit(STARTUP_EXIT_CODE) from None
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, or SIGTERM where handled
        raise typer.Exit(130) from None


async def temporal_client(
    startup: StartupSettings | None = None,
) -> tuple[Client, TemporalSettings]:
    """With `startup` (a long-running process): retried, and a StartupError at last."""
    settings, encryption = load(TemporalSettings), load(PayloadEncryptionSettings)
    if startup is not None:
        address = client_config()["target_host"]
        client = await with_retry("TEMPORAL_ADDRESS", address, lambda: connect(encryption), startup)
        return client, settings
    try:
        return await connect(encryption), settings
    except RuntimeError as error:
        address = client_config()["target_host"]
        raise fail(f"cannot reach Temporal at {address} (TEMPORAL_ADDRESS): {error}") from None


@asynccontextmanager
async def database_pool() -> AsyncIterator[AsyncConnectionPool]:
    """PostgreSQL for one command; unreachable, or without this release's tables (a worker of
    this release applies the migrations as it starts), it is one line, not a traceback."""
    settings = load(DatabaseSettings)
    where = _database_location(settings.url)
    try:
        pool = await open_pool(settings)
    except PoolTimeout:
        raise fail(f"cannot reach PostgreSQL at {where} (DATABASE_URL)") from None
    try:
        yield pool
    except UndefinedTable as error:
        raise fail(
            f"{error.diag.message_primary} in {where}: start a worker of this release first"
            " (it applies the database migrations)"
        ) from None
    finally:
        await pool.close()


def _database_location(url: str) -> str:
    """Host, port and database of DATABASE_URL, never its password."""
    parts = conninfo_to_dict(url)
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


@asynccontextmanager
async def configured_bridge(
    events: PlatformEventSettings,
    *,
    redis_url: str | None,
    on_event: Callable[[PlatformEvent, IntakeOutcome], None] | None = None,
    fence: Fence | None = None,
    replay_range: ReplayRange | None = None,
) -> AsyncIterator[EventBridge]:
    """A bridge built from the environment's settings, positioned where it should resume;
    its JWT key comes from the secret store (so a rotated key is picked up)."""
    salesforce, database = load(SalesforceSettings), load(DatabaseSettings)
    credentials = await open_credentials(
        database, load(SecretsSettings), SeedCredentials(salesforce=salesforce)
    )
    client, temporal = await temporal_client()
    async with opened_bridge(
        client,
        task_queue=temporal.task_queue,
        salesforce=salesforce,
        events=events,
        redis_url=redis_url,
        database=database,
        on_event=on_event,
        private_key=credentials[CredentialKind.SALESFORCE_JWT],
        fence=fence,
        replay_range=replay_range,
    ) as bridge:
        await bridge.resume_position(events)
        yield bridge


def fail(message: str, exit_code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(exit_code)
