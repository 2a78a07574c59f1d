"""`portalctl sim ...`: request, inspect and cancel a SIM's Freebit operations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from contracts.sim import (
    Cancellation,
    CancelOperationRequest,
    InvalidSimRequestError,
    NetworkTypeChange,
    PlanChange,
    QueuedOperation,
    QuotaTopUp,
    SimAccountOverview,
    SimOperation,
    VoiceOptionsChange,
    sim_workflow_id,
    validate_account,
)
from starters.cli.support import fail, run, temporal_client
from starters.sim_operations import request_sim_operation
from workflows.sim_account import SimAccount

sim_app = typer.Typer(help="Freebit SIM operations, one queue per SIM.", no_args_is_help=True)


def _valid_account(account: str) -> str:
    """Typer callback: a malformed number is refused, in one line, before Temporal is
    contacted."""
    try:
        validate_account(account)
    except InvalidSimRequestError as error:
        raise fail(f"Refused: {error}", exit_code=2) from None
    return account


AccountArgument = Annotated[
    str,
    typer.Argument(help="the SIM's phone number, e.g. 08012345678", callback=_valid_account),
]
OnDate = Annotated[
    datetime | None, typer.Option("--at", formats=["%Y-%m-%d"], help="run on that day")
]


@sim_app.command("show")
def show(account: AccountArgument) -> None:
    """Running, queued and finished operations, and when the next one may start."""

    async def query() -> SimAccountOverview:
        client, _ = await temporal_client()
        handle = client.get_workflow_handle_for(SimAccount.run, sim_workflow_id(account))
        try:
            return await handle.query(SimAccount.overview)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise fail(f"No operations were ever requested for SIM {account}") from None
            raise

    overview = run(query())
    typer.echo(f"SIM {overview.account}")
    typer.echo(f"  next operation allowed at: {_time(overview.next_allowed_at) or 'now'}")
    typer.echo(f"  running: {_line(overview.running) if overview.running else '-'}")
    typer.echo("  queued:" + ("" if overview.queue else " -"))
    for queued in overview.queue:
        typer.echo(f"    {_line(queued)}")
    typer.echo("  history:" + ("" if overview.history else " -"))
    for finished in overview.history:
        typer.echo(f"    {_line(finished)}")


@sim_app.command("change-plan")
def change_plan(account: AccountArgument, plan_code: str, at: OnDate = None) -> None:
    """Change the plan, now or on a given day."""
    _request(account, PlanChange(plan_code=plan_code, run_time=_day(at)))


@sim_app.command("top-up")
def top_up(
    account: AccountArgument,
    quota_mb: Annotated[int, typer.Argument(help="MB to add, 100-51200")],
) -> None:
    """Add data quota."""
    _request(account, QuotaTopUp(quota_mb=quota_mb))


@sim_app.command("network-type")
def network_type(
    account: AccountArgument, contract_line: Annotated[str, typer.Argument(help="4G or 5G")]
) -> None:
    """Switch between 4G and 5G (runs 30 minutes after the request)."""
    _request(account, NetworkTypeChange(contract_line=contract_line.upper()))


@sim_app.command("voice")
def voice(
    account: AccountArgument,
    voice_mail: Annotated[bool | None, typer.Option("--voice-mail/--no-voice-mail")] = None,
    call_waiting: Annotated[bool | None, typer.Option("--call-waiting/--no-call-waiting")] = None,
) -> None:
    """Turn voice mail and/or call waiting on or off."""
    _request(account, VoiceOptionsChange(voice_mail=voice_mail, call_waiting=call_waiting))


@sim_app.command("cancel")
def cancel(account: AccountArgument, at: OnDate = None) -> None:
    """Cancel the SIM contract, now or on a given day."""
    _request(account, Cancellation(run_date=_day(at)))


@sim_app.command("cancel-op")
def cancel_op(account: AccountArgument, op_id: str) -> None:
    """Cancel a queued operation (one that has started cannot be cancelled)."""

    async def cancel_operation() -> str:
        client, _ = await temporal_client()
        handle = client.get_workflow_handle_for(SimAccount.run, sim_workflow_id(account))
        try:
            answer = await handle.execute_update(
                SimAccount.cancel_operation, CancelOperationRequest(op_id=op_id)
            )
        except RPCError as error:
            raise fail(f"Nothing is queued for SIM {account} ({error.message})") from None
        if not answer.cancelled:
            raise fail(f"Not cancelled: {answer.message}")
        return answer.message

    typer.echo(run(cancel_operation()))


def _request(account: str, operation: SimOperation) -> None:
    async def request() -> str:
        client, temporal = await temporal_client()
        try:
            accepted = await request_sim_operation(
                client, account, operation, task_queue=temporal.task_queue
            )
        except InvalidSimRequestError as error:
            raise fail(f"Refused: {error}") from None
        except WorkflowUpdateFailedError as error:
            raise fail(f"Refused: {error.cause or error}") from None
        return (
            f"Queued {operation.describe()} as {accepted.op_id}; "
            f"earliest start {_time(accepted.earliest_start)}"
        )

    typer.echo(run(request()))


def _day(moment: datetime | None) -> date | None:
    return moment.date() if moment else None


def _time(moment: datetime | None) -> str | None:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else None


def _line(operation: QueuedOperation) -> str:
    if operation.finished_at:
        when = f"finished {_time(operation.finished_at)}"
    elif operation.started_at:
        when = f"started {_time(operation.started_at)}"
    else:
        when = f"not before {_time(operation.not_before)}"
    error = f" ({operation.error})" if operation.error else ""
    what = operation.operation.describe()
    return f"{operation.op_id}  {operation.status:<9}  {when:<32}  {what}{error}"
