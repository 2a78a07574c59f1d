"""`portalctl order ...`: start, inspect and retry `ProvisionOrder` workflows."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from contracts.durations import parse_duration
from contracts.provisioning import ProvisionStatus, RetryRequest, provision_workflow_id
from integrations.config import PlatformEventSettings, ReplayMode, load
from integrations.order_retry_batches import OrderRetryBatches, RetryBatch
from integrations.whmcs.order_journal import WhmcsOrderJournal
from starters.bridge.intake import IntakeOutcome
from starters.bulk_retry import OrderRetry, RetryOutcome, retry_orders
from starters.cli.order_views import (
    answer_line,
    orders_json,
    outcome_counts,
    print_orders,
    retry_progress,
)
from starters.cli.support import (
    configured_bridge,
    database_pool,
    fail,
    run,
    temporal_client,
)
from starters.order_listing import InvalidFilterError, OrderFilter, OrderRow, list_orders
from starters.provisioning import InvalidOrderIdError, request_provisioning
from workflows.provision_order import ProvisionOrder

BACKFILL_QUIET_SECONDS = 15.0
"""A backfill is complete when Salesforce has sent nothing for this long."""
DEFAULT_RETRY_RATE = 10.0
DEFAULT_LIST_LIMIT = 500
RESUME_BATCH_WITHIN = timedelta(hours=24)
"""A bulk retry interrupted less than this ago is continued by the same command line."""

order_app = typer.Typer(help="Provision Salesforce orders into WHMCS.", no_args_is_help=True)

OrderIdArgument = Annotated[str, typer.Argument(help="Salesforce Order Id (15 or 18 chars)")]
CodeOption = Annotated[str | None, typer.Option(help="failed with this error code, e.g. 503")]
StepOption = Annotated[str | None, typer.Option(help="failed at this step, e.g. payment_method")]
SinceOption = Annotated[str | None, typer.Option(help="failed within this long, e.g. 30m, 2h, 1d")]
AccountOption = Annotated[
    list[str] | None,
    typer.Option("--account", help="of this Salesforce Account Id (repeat for several)"),
]


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
    order_id: Annotated[
        str | None, typer.Argument(help="Salesforce Order Id; none with --failed")
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="every Failed order that waits, or those matching:")
    ] = False,
    code: CodeOption = None,
    step: StepOption = None,
    since: SinceOption = None,
    accounts: AccountOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list the orders a retry would take, retry none")
    ] = False,
    rate: Annotated[
        str, typer.Option(help="at most this many retries per second, e.g. 10/s")
    ] = f"{DEFAULT_RETRY_RATE:g}/s",
    reason: Annotated[str | None, typer.Option(help="why, for the workflow's log")] = None,
) -> None:
    """Manual retry of a Failed order: resumes at the failed step. With --failed, of every
    Failed order that matches, paced, one answer per order; a rerun after an interruption
    continues the same batch and retries no order twice."""
    if order_id is not None:
        if failed or any((code, step, since, accounts)):
            raise fail("Give an ORDER_ID or --failed with filters, not both", exit_code=2)
        typer.echo(run(_retry_one(order_id, reason)))
        return
    if not failed:
        raise fail("Give an ORDER_ID, or --failed (with any filters)", exit_code=2)
    order_filter = _order_filter(True, code, step, since, accounts, running_only=True)
    per_second = _parse_rate(rate)
    if dry_run:
        _show_orders(order_filter, limit=None, as_json=False)
        return
    answers = run(_retry_failed(order_filter, per_second, reason or "portalctl order retry"))
    typer.echo(outcome_counts(answers))
    if any(answer.outcome is RetryOutcome.ERROR for answer in answers):
        raise typer.Exit(1)


async def _retry_one(order_id: str, reason: str | None) -> str:
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


async def _retry_failed(
    order_filter: OrderFilter, per_second: float, reason: str
) -> list[OrderRetry]:
    client, _ = await temporal_client()
    async with database_pool() as pool:
        batches = OrderRetryBatches(pool)
        batch = await batches.open(order_filter.selection(), resume_within=RESUME_BATCH_WITHIN)
        _announce(batch)
        rows = await list_orders(client, order_filter, limit=None, now=batch.started_at)
        answers = await _send_retries(
            client, [row.order_id for row in rows], batch, per_second, reason
        )
        # A retry that got no answer may have been taken: its batch stays unfinished, so
        # that a rerun continues it rather than send that retry again in a new batch.
        if not any(answer.outcome is RetryOutcome.ERROR for answer in answers):
            await batches.finish(batch)
        return answers


def _announce(batch: RetryBatch) -> None:
    started = f"{batch.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if batch.resumed:
        typer.echo(f"Continuing bulk retry {batch.id}, started {started} and interrupted")
    else:
        typer.echo(f"Bulk retry {batch.id}")


async def _send_retries(
    client: Client, order_ids: list[str], batch: RetryBatch, per_second: float, reason: str
) -> list[OrderRetry]:
    console = Console(highlight=False)
    answered: list[OrderRetry] = []
    with retry_progress(console) as progress:
        task = progress.add_task("retry", total=len(order_ids), counts="")

        def show(answer: OrderRetry) -> None:
            answered.append(answer)
            progress.console.print(answer_line(answer), markup=False)
            progress.update(task, advance=1, counts=outcome_counts(answered))

        return await retry_orders(
            client,
            order_ids,
            event_id=batch.event_id,
            reason=reason,
            rate=per_second,
            on_answer=show,
        )


@order_app.command("list")
def list_(
    failed: Annotated[bool, typer.Option("--failed", help="only Failed orders")] = False,
    code: CodeOption = None,
    step: StepOption = None,
    since: SinceOption = None,
    accounts: AccountOption = None,
    limit: Annotated[
        int, typer.Option(min=0, help="read at most this many runs, newest first; 0: all")
    ] = DEFAULT_LIST_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="print the orders as JSON")] = False,
) -> None:
    """Orders with their status, failure and WHMCS order, from one visibility query."""
    order_filter = _order_filter(failed, code, step, since, accounts)
    _show_orders(order_filter, limit=limit or None, as_json=as_json)


def _show_orders(order_filter: OrderFilter, *, limit: int | None, as_json: bool) -> None:
    async def query(now: datetime) -> list[OrderRow]:
        client, _ = await temporal_client()
        return await list_orders(client, order_filter, limit=limit, now=now)

    now = datetime.now(UTC)
    rows = run(query(now))
    if as_json:
        typer.echo(orders_json(rows))
        return
    print_orders(Console(highlight=False), rows, now=now)
    shown = f"{len(rows)} order(s)"
    if limit is not None and len(rows) >= limit:
        shown += f", the newest {limit}: narrow the filters or give --limit 0 for all"
    typer.echo(shown)


def _order_filter(
    failed: bool,
    code: str | None,
    step: str | None,
    since: str | None,
    accounts: list[str] | None,
    *,
    running_only: bool = False,
) -> OrderFilter:
    try:
        return OrderFilter(
            failed=failed,
            code=code,
            step=step,
            since=_parse_since(since),
            accounts=tuple(accounts or ()),
            running_only=running_only,
        )
    except InvalidFilterError as error:
        raise fail(str(error), exit_code=2) from None


def _parse_since(since: str | None) -> timedelta | None:
    if since is None:
        return None
    duration = parse_duration(since)
    if not isinstance(duration, timedelta):
        raise fail(f"--since {since!r} is not a duration, e.g. 30m, 2h, 1d", exit_code=2)
    return duration


def _parse_rate(rate: str) -> float:
    number = rate.strip().removesuffix("/s")
    try:
        per_second = float(number)
    except ValueError:
        per_second = 0.0
    if not per_second > 0:
        raise fail(f"--rate {rate!r} is not a rate, e.g. 10/s", exit_code=2)
    return per_second


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
        async with database_pool() as pool:
            journal = WhmcsOrderJournal(pool)
            if whmcs_order is not None:
                return await journal.done(order_id, whmcs_order)
            return await journal.not_applied(order_id)

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
