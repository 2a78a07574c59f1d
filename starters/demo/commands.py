"""`portalctl emulators` and `portalctl demo`: commands of a source checkout (`make demo`),
registered only where the demo stack is installed (not in the production wheel)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from integrations.config import (
    DatabaseSettings,
    FreebitSettings,
    RedisSettings,
    SalesforceSettings,
    WhmcsSettings,
    load,
)
from integrations.database import apply_migrations, open_pool
from integrations.id_mappings import IdMappings
from starters.cli.support import run
from starters.demo.emulator_seed import SeededOrder, emulator_controls, seed_orders, seed_sims
from starters.demo.emulator_settings import LocalServices, dev_server_command, export_lines
from starters.demo.local_sftp import records_month_option, running_sftp_emulator
from starters.demo.local_vendors import running_vendor_emulators
from starters.demo.runner import prepare_work_dir, run_demo

DEFAULT_DATABASE_URL = DatabaseSettings.model_fields["url"].default
DEFAULT_REDIS_URL = RedisSettings.model_fields["url"].default
DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"


emulators_app = typer.Typer(
    help="The Salesforce, WHMCS, Freebit and SFTP emulators, standalone.",
    invoke_without_command=True,
)


@emulators_app.callback()
def emulators(
    context: typer.Context,
    host: Annotated[
        str, typer.Option(help="bind address (0.0.0.0 to serve other containers)")
    ] = "127.0.0.1",
    salesforce_port: Annotated[int, typer.Option(help="Salesforce emulator (TLS) port")] = 8443,
    salesforce_pubsub_port: Annotated[
        int, typer.Option(help="Salesforce emulator's Pub/Sub API (gRPC, TLS) port")
    ] = 7443,
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
        Path,
        typer.Option(
            help="where the TLS CA, the JWT key, the SFTP files and authorized_keys are written"
        ),
    ] = Path(".emulators"),
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL the worker and the bridge are to use (printed)")
    ] = DEFAULT_DATABASE_URL,
    redis_url: Annotated[str, typer.Option(help="Redis they are to use (printed)")] = (
        DEFAULT_REDIS_URL
    ),
    temporal_address: Annotated[
        str, typer.Option(help="Temporal they are to use (printed)")
    ] = DEFAULT_TEMPORAL_ADDRESS,
) -> None:
    """Run the Salesforce, WHMCS, Freebit and SFTP emulators standalone (until Ctrl-C).

    Prints every setting the worker and the bridge need (export lines) and the Temporal dev
    server command; `portalctl emulators seed` then adds sample data.
    """
    if context.invoked_subcommand is not None:
        return
    work_dir.mkdir(exist_ok=True)
    services = LocalServices(database_url, redis_url, temporal_address)
    with (
        running_vendor_emulators(
            work_dir.resolve(),
            host=host,
            salesforce_port=salesforce_port,
            salesforce_pubsub_port=salesforce_pubsub_port,
            whmcs_port=whmcs_port,
            freebit_port=freebit_port,
        ) as vendors,
        running_sftp_emulator(
            work_dir.resolve() / "sftp", sftp_port, records_month, records_rows
        ) as sftp,
    ):
        environment = {**vendors.environment(), **sftp.environment(), **services.environment()}
        typer.echo("# Settings for portalctl worker, bridge and the other commands:")
        for line in export_lines(environment):
            typer.echo(line)
        typer.echo("# Temporal dev server with the workflows' search attributes:")
        typer.echo(f"#   {dev_server_command()}")
        typer.echo(f"# SFTP administrator: add a key line to {sftp.authorized_keys_path}")
        typer.echo("# Sample data: portalctl emulators seed --orders 3 --sims 2")
        typer.echo("# emulators running; control API under /__emulator/ ; Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


@emulators_app.command("seed")
def seed(
    orders: Annotated[
        int, typer.Option(min=0, help="customers, each with an Account, a client and an Order")
    ] = 3,
    approve: Annotated[
        bool, typer.Option("--approve", help="approve the Orders (the bridge provisions them)")
    ] = False,
    sims: Annotated[int, typer.Option(min=0, help="Freebit SIM accounts")] = 2,
) -> None:
    """Add sample data to the running emulators (the settings `portalctl emulators` printed
    point at them): Accounts with Orders, WHMCS clients, their id_mappings, SIM accounts."""

    async def add_sample_data() -> tuple[list[SeededOrder], list[str]]:
        salesforce, whmcs = load(SalesforceSettings), load(WhmcsSettings)
        pool = await open_pool(load(DatabaseSettings))
        try:
            async with pool.connection() as connection:
                await apply_migrations(connection)
            with emulator_controls(salesforce, whmcs, load(FreebitSettings)) as controls:
                seeded = await seed_orders(controls, IdMappings(pool), orders, approve=approve)
                return seeded, seed_sims(controls, sims)
        finally:
            await pool.close()

    seeded, numbers = run(add_sample_data())
    for entry in seeded:
        order = entry.order
        approved = f", approved (event {entry.event_replay_id})" if entry.event_replay_id else ""
        typer.echo(
            f"Order {order.order_id}: Account {order.account_id}, "
            f"WHMCS client {order.whmcs_client_id}{approved}"
        )
    for number in numbers:
        typer.echo(f"SIM {number}")


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
