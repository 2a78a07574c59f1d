"""`portalctl emulators` and `portalctl demo`: commands of a source checkout (`make demo`),
registered only where the demo stack is installed (not in the production wheel)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from starters.cli.support import run
from starters.demo.local_sftp import records_month_option, running_sftp_emulator
from starters.demo.local_vendors import running_vendor_emulators
from starters.demo.runner import prepare_work_dir, run_demo


def emulators(
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
            salesforce_pubsub_port=salesforce_pubsub_port,
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
