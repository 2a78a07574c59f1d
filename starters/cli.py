"""`portalctl`: the one command-line entry point for operators and developers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from integrations.config import DatabaseSettings, SalesforceSettings, WhmcsSettings, load
from starters.cli_support import run, temporal_client
from starters.demo import prepare_work_dir, run_demo
from starters.order_cli import order_app

app = typer.Typer(
    help="Operate portal-workflows: worker, orders, and more.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(order_app, name="order")


@app.command()
def worker() -> None:
    """Run the worker: all workflows and activities, on every task queue."""
    from workers.worker import open_integrations, run_until_cancelled

    async def run_worker() -> None:
        salesforce, whmcs, database = (
            load(SalesforceSettings),
            load(WhmcsSettings),
            load(DatabaseSettings),
        )
        client, temporal = await temporal_client()
        async with open_integrations(salesforce, whmcs, database) as integrations:
            await run_until_cancelled(client, temporal.task_queue, integrations)

    run(run_worker())


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="run the scenario, then exit 0 if every sample succeeded")
    ] = False,
) -> None:
    """The embedded stack (Temporal + UI, PostgreSQL, Redis, emulators, worker, bridge) and a
    sample scenario through the real event path; runs until Ctrl-C."""
    succeeded = run(run_demo(prepare_work_dir(), once=once, console=Console(soft_wrap=True)))
    if not succeeded:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
