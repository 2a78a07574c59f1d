"""`portalctl`: the one command-line entry point for operators and developers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import typer

from integrations import tracing
from integrations.config import (
    BridgeLeaseSettings,
    DatabaseSettings,
    PlatformEventSettings,
    RedisSettings,
    WorkerDeploymentSettings,
    load,
)
from integrations.leader_lease import Fence
from integrations.startup import check_dependencies
from starters.bridge.leadership import bridge_leadership
from starters.cli.deploy import deploy_app
from starters.cli.events import events_app
from starters.cli.health import health
from starters.cli.mappings import mappings_app
from starters.cli.order import order_app
from starters.cli.preflight import preflight
from starters.cli.queues import queues
from starters.cli.records import records_app
from starters.cli.rotate import rotate_app
from starters.cli.schedules import schedules_app
from starters.cli.sim import sim_app
from starters.cli.support import configured_bridge, run, temporal_client
from starters.services.codec_server import codec_server
from starters.services.ops_http import OpsEndpoint
from workers.dependencies import WorkerSettings, open_integrations
from workers.deployment import deployment_config
from workers.worker import run_until_cancelled

app = typer.Typer(
    help="Operate portal-workflows: worker, orders, and more.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(order_app, name="order")
app.add_typer(sim_app, name="sim")
app.add_typer(records_app, name="records")
app.add_typer(schedules_app, name="schedules")
app.add_typer(rotate_app, name="rotate")
app.add_typer(deploy_app, name="deploy")
app.add_typer(mappings_app, name="mappings")
app.add_typer(events_app, name="events")
app.command("codec-server")(codec_server)
app.command("health")(health)
app.command("preflight")(preflight)
app.command("queues")(queues)


@app.command()
def worker() -> None:
    """Run the worker: all workflows and activities, on every task queue."""

    async def run_worker() -> None:
        settings = WorkerSettings.from_environment()
        deployment = deployment_config(load(WorkerDeploymentSettings))
        tracing.start_from_environment("portal-worker")
        connections = settings.integrations
        ops = OpsEndpoint.for_worker()
        startup = await check_dependencies(connections.database.url, connections.redis.url)
        client, temporal = await temporal_client(startup)
        async with (
            open_integrations(settings) as integrations,
            ops.serving(client, connections.database, connections.redis.url),
        ):
            await run_until_cancelled(client, temporal.task_queue, integrations, deployment)

    run(run_worker())


@app.command()
def bridge() -> None:
    """Run the Platform Event bridge: Salesforce events in, ProvisionOrder workflows out.
    Run two or more: the one holding the leader lease in Redis subscribes, the others stand by."""

    async def run_bridge() -> None:
        events = load(PlatformEventSettings)
        if not events.events_enabled:
            typer.echo("SF_EVENTS_ENABLED is not true: the bridge has nothing to do.")
            return
        redis, lease = load(RedisSettings), load(BridgeLeaseSettings)
        tracing.start_from_environment("portal-bridge")
        ops = OpsEndpoint.for_bridge()
        startup = await check_dependencies(load(DatabaseSettings).url, redis.url)
        client, _ = await temporal_client(startup)

        async def lead(fence: Fence) -> None:
            async with configured_bridge(events, redis_url=redis.url, fence=fence) as event_bridge:
                await event_bridge.run()

        # SIGTERM (an orchestrator stopping it) as Ctrl-C: the leader releases its lease, so
        # a standby takes over at once instead of after BRIDGE_LEASE_TTL. It cancels the
        # command itself, as Ctrl-C does: a process started with SIGINT ignored (a shell's
        # background job) would ignore a SIGINT raised in its stead.
        main = asyncio.current_task()
        assert main is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        async with (
            bridge_leadership(redis.url, events.provision_event_channel, lease) as leader,
            ops.serving(client, load(DatabaseSettings), redis.url, lambda: leader.role),
        ):
            await leader.run(lead)

    run(run_bridge())


try:
    from starters.demo.commands import demo, emulators_app
except ModuleNotFoundError as missing:
    if missing.name != "starters.demo":  # the demo is there, something it needs is not
        raise
else:  # a source checkout: the production wheel has no demo stack
    app.add_typer(emulators_app, name="emulators")
    app.command()(demo)


def main() -> None:
    """The `portalctl` entry point. It leaves without tearing the interpreter down: the
    Temporal client's runtime threads can abort a finalizing interpreter after a command
    has done its work (temporalio/sdk-python#300, "PyGILState_Release ... finalizing")."""
    try:
        app()
    except SystemExit as stop:  # click always ends with one, carrying the exit status
        status = stop.code if isinstance(stop.code, int) else 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
