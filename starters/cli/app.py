"""`portalctl`: the one command-line entry point for operators and developers."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from integrations.config import (
    DatabaseSettings,
    PlatformEventSettings,
    RedisSettings,
    load,
)
from starters.cli.deploy import deploy_app
from starters.cli.health import health
from starters.cli.order import order_app
from starters.cli.records import records_app
from starters.cli.rotate import rotate_app
from starters.cli.schedules import schedules_app
from starters.cli.sim import sim_app
from starters.cli.support import configured_bridge, run, temporal_client
from starters.demo.local_sftp import records_month_option, running_sftp_emulator
from starters.demo.local_vendors import running_vendor_emulators
from starters.demo.runner import prepare_work_dir, run_demo
from starters.services.codec_server import codec_server
from starters.services.ops_http import OpsEndpoint
from workers.dependencies import WorkerSettings, open_integrations
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
app.command("codec-server")(codec_server)
app.command("health")(health)


@app.command()
def worker() -> None:
    """Run the worker: all workflows and activities, on every task queue."""

    async def run_worker() -> None:
        settings = WorkerSettings.from_environment()
        connections = settings.integrations
        ops = OpsEndpoint.for_worker()
        client, temporal = await temporal_client()
        async with (
            open_integrations(settings) as integrations,
            ops.serving(client, connections.database, connections.redis.url),
        ):
            await run_until_cancelled(client, temporal.task_queue, integrations)

    run(run_worker())


@app.command()
def bridge() -> None:
    """Run the Platform Event bridge: Salesforce events in, ProvisionOrder workflows out."""

    async def run_bridge() -> None:
        events = load(PlatformEventSettings)
        if not events.events_enabled:
            typer.echo("SF_EVENTS_ENABLED is not true: the bridge has nothing to do.")
            return
        redis = load(RedisSettings)
        ops = OpsEndpoint.for_bridge()
        client, _ = await temporal_client()
        async with (
            ops.serving(client, load(DatabaseSettings), redis.url),
            configured_bridge(events, redis_url=redis.url) as event_bridge,
        ):
            await event_bridge.run()

    run(run_bridge())


@app.command()
def emulators(
    host: Annotated[
        str, typer.Option(help="bind address (0.0.0.0 to serve other containers)")
    ] = "127.0.0.1",
    salesforce_port: Annotated[int, typer.Option(help="Salesforce emulator (TLS) port")] = 8443,
    whmcs_port: Annotated[int, typer.Option(help="WHMCS emulator port")] = 8081,
    freebit_port: Annotated[int, typer.Option(help="Freebit emulator port")] = 8082,
    sftp_port: Annotated[int, typer.Option(help="SFTP emulator port (loopback only)")] = 2222,
    records_month: Annotated[
        str | None,
        typer.Option(
            help="month (YYYY-MM) of the call and SMS files the SFTP emulator serves "
            "[default: two months back]",
            callback=records_month_option,
        ),
    ] = None,
    records_rows: Annotated[int, typer.Option(help="records per generated file")] = 1000,
    work_dir: Annotated[
        Path, typer.Option(help="where the TLS CA, the JWT key and the SFTP files are written")
    ] = Path(".emulators"),
) -> None:
    """Run the Salesforce, WHMCS, Freebit and SFTP emulators standalone (until Ctrl-C).

    Prints the settings that point the worker and the bridge at them.
    """
    work_dir.mkdir(exist_ok=True)
    with (
        running_vendor_emulators(
            work_dir.resolve(),
            host=host,
            salesforce_port=salesforce_port,
            whmcs_port=whmcs_port,
            freebit_port=freebit_port,
        ) as vendors,
        running_sftp_emulator(
            work_dir.resolve() / "sftp", sftp_port, records_month, records_rows
        ) as sftp,
    ):
        for name, value in {**vendors.environment(), **sftp.environment()}.items():
            typer.echo(f"export {name}={value}")
        typer.echo("# emulators running; control API under /__emulator/ ; Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="run the scenario, then exit 0 if every sample succeeded")
    ] = False,
) -> None:
    """The whole system on this machine, with a sample scenario (until Ctrl-C).

    Starts Temporal with its UI, PostgreSQL, Redis, the emulators, the worker and the bridge,
    then drives sample orders through the real event path.
    """
    succeeded = run(run_demo(prepare_work_dir(), once=once, console=Console(soft_wrap=True)))
    if not succeeded:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
