"""`portalctl order ...`: start, inspect and retry `ProvisionOrder` workflows."""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from contracts.provisioning import ProvisionStatus, RetryRequest, provision_workflow_id
from integrations.config import DatabaseSettings, PlatformEventSettings, ReplayMode, load
from integrations.database import open_pool
from integrations.whmcs.order_journal import WhmcsOrderJournal
from starters.bridge.intake import IntakeOutcome
from starters.cli.support import configured_bridge, fail, run, temporal_client
from starters.provisioning import InvalidOrderIdError, request_provisioning
from workflows.provision_order import ProvisionOrder

BACKFILL_QUIET_SECONDS = 15.0
"""A backfill is complete when Salesforce has sent nothing for this long."""

order_app = typer.Typer(help="Provision Salesforce orders into WHMCS.", no_args_is_help=True)

OrderIdArgument = Annotated[str, typer.Argument(help="Salesforce Order Id (15 or 18 chars)")]


@order_app.command("start")
def start(order_id: OrderIdArgument) -> None:
    """Start ProvisionOrder for an order (what the Platform Event bridge does per event)."""

    async def start_workflow() -> str:
        client, temporal = await temporal_client()
        try:
            handle = await request_provisioning(client, order_id, task_queue=temporal.task_queue)
        except InvalidOrderIdError as error:
            raise fail(str(error)) from None
        return f"{handle.id} (run {handle.result_run_id})"

    typer.echo(f"Provisioning requested: {run(start_workflow())}")


@order_app.command("status")
def status(
    order_id: OrderIdArgument,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Current step, runs, completed steps, WHMCS ids and last error (workflow query)."""

    async def query() -> ProvisionStatus:
        client, _ = await temporal_client()
        handle = client.get_workflow_handle_for(ProvisionOrder.run, provision_workflow_id(order_id))
        try:
            return await handle.query(ProvisionOrder.status)
        except RPCError as error:
            raise _not_found_or(error, order_id) from None

    result = run(query())
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    error = result.last_error
    rows = {
        "order": result.order_id,
        "activation status": result.activation_status or "-",
        "current step": result.current_step or "-",
        "runs": result.runs,
        "completed steps": ", ".join(result.completed_steps) or "-",
        "WHMCS order": result.whmcs_order_id or "-",
        "WHMCS services": ", ".join(
            f"{item}={','.join(map(str, services))}"
            for item, services in result.service_ids_by_item.items()
        )
        or "-",
        "last error": f"{error.code} {error.message} (at {error.step})" if error else "-",
        "waiting for retry": "yes" if result.waiting_for_retry else "no",
    }
    for label, value in rows.items():
        typer.echo(f"{label:>18}: {value}")


@order_app.command("retry")
def retry(
    order_id: OrderIdArgument,
    reason: Annotated[str | None, typer.Option(help="why, for the workflow's log")] = None,
) -> None:
    """Manual retry of a Failed order: resumes at the failed step."""

    async def request_retry() -> str:
        client, _ = await temporal_client()
        handle = client.get_workflow_handle_for(ProvisionOrder.run, provision_workflow_id(order_id))
        try:
            answer = await handle.execute_update(
                ProvisionOrder.request_retry, RetryRequest(reason=reason or "portalctl order retry")
            )
        except RPCError as error:
            raise _not_found_or(error, order_id) from None
        except WorkflowUpdateFailedError as error:
            raise fail(f"Retry refused: {error.cause or error}") from None
        return answer.message

    typer.echo(run(request_retry()))


@order_app.command("resolve")
def resolve(
    order_id: OrderIdArgument,
    whmcs_order: Annotated[
        int | None,
        typer.Option("--whmcs-order", help="the WHMCS order the timed-out AddOrder created"),
    ] = None,
    no_whmcs_order: Annotated[
        bool,
        typer.Option("--no-whmcs-order", help="WHMCS has no order of it: a retry creates one"),
    ] = False,
) -> None:
    """Settle an "outcome unknown" AddOrder after checking WHMCS; then `order retry`."""
    if (whmcs_order is None) is not no_whmcs_order:
        raise fail("Give exactly one of --whmcs-order N and --no-whmcs-order", exit_code=2)

    async def settle() -> bool:
        pool = await open_pool(load(DatabaseSettings))
        try:
            journal = WhmcsOrderJournal(pool)
            if whmcs_order is not None:
                return await journal.done(order_id, whmcs_order)
            return await journal.not_applied(order_id)
        finally:
            await pool.close()

    if not run(settle()):
        raise fail(f"No AddOrder of order {order_id} was sent: there is nothing to resolve")
    outcome = f"WHMCS order {whmcs_order}" if whmcs_order is not None else "no WHMCS order"
    typer.echo(f"Resolved: {outcome}. Now `portalctl order retry {order_id}`.")


def _not_found_or(error: RPCError, order_id: str) -> Exception:
    if error.status != RPCStatusCode.NOT_FOUND:
        return error
    if "already completed" in error.message:
        return fail(
            f"Provisioning of order {order_id} has finished; `portalctl order start {order_id}` "
            "(or Provision / Retry in Salesforce) starts it again"
        )
    return fail(f"No provisioning workflow for order {order_id}")


@order_app.command("backfill")
def backfill() -> None:
    """Replay every retained Platform Event (-2) once and start what was missed.

    The live bridge's stored replay id is left alone; events already handled are recognised
    by their workflow id. Stops when Salesforce has nothing more to replay.
    """

    async def replay_all(progress: Progress, task: TaskID) -> Counter[IntakeOutcome]:
        events = load(PlatformEventSettings).model_copy(update={"events_replay": ReplayMode.ALL})
        async with configured_bridge(
            events, redis_url=None, on_event=lambda _event, _outcome: progress.advance(task)
        ) as replaying_bridge:
            await replaying_bridge.run(stop_when_quiet_for=BACKFILL_QUIET_SECONDS)
            return replaying_bridge.counts

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} events")
    ) as progress:
        task = progress.add_task("Replaying retained Platform Events", total=None)
        counts = run(replay_all(progress, task))
    for outcome in IntakeOutcome:
        typer.echo(f"{outcome.value:>18}: {counts[outcome]}")
