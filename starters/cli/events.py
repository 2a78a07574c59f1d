"""`portalctl events ...`: the Platform Events the bridge parked (the intake dead-letter), and
delivering a retained range of events again through the bridge's intake."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn

from contracts.durations import parse_duration
from integrations.config import DatabaseSettings, EventTransport, PlatformEventSettings, load
from integrations.database import open_pool
from integrations.rejected_events import RejectedEvent, RejectedEvents
from starters.bridge.intake import IntakeOutcome
from starters.bridge.replay_range import ReplayId, ReplayRange
from starters.cli.support import configured_bridge, fail, run

REPLAY_QUIET_SECONDS = 15.0
"""Without `--to`, a replay is complete when Salesforce has sent nothing for this long."""
PAYLOAD_SHOWN = 60

events_app = typer.Typer(
    help="Platform Events: the intake dead-letter and replays.", no_args_is_help=True
)


def _since_option(value: str | None) -> datetime | None:
    """Typer callback: `2h`, `30m`, `1d` (that long ago) or an ISO time."""
    if value is None:
        return None
    duration = parse_duration(value)
    if isinstance(duration, timedelta):
        return datetime.now(UTC) - duration
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither a duration (2h, 30m, 1d) nor an ISO time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _replay_id(value: str, transport: EventTransport) -> ReplayId:
    """A replay id as `events rejected` shows it for the transport SF_EVENTS_TRANSPORT names:
    CometD's a number, the Pub/Sub API's bytes in hex (which may be all digits too)."""
    try:
        return int(value) if transport is EventTransport.COMETD else bytes.fromhex(value)
    except ValueError:
        shape = "a number" if transport is EventTransport.COMETD else "hex"
        raise fail(
            f"{value!r} is not a replay id of the {transport} transport (SF_EVENTS_TRANSPORT):"
            f" {shape} as portalctl events rejected shows it",
            exit_code=2,
        ) from None


@events_app.command("rejected")
def rejected(
    since: Annotated[
        str | None,
        typer.Option(help="only those rejected since: 2h, 30m, 1d or an ISO time"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per event")] = False,
) -> None:
    """Events the bridge could not use (no or invalid OrderId__c, undecodable payload),
    oldest first, with their replay id, reason and payload."""
    rejected_after = _since_option(since)

    async def parked() -> list[RejectedEvent]:
        pool = await open_pool(load(DatabaseSettings))
        try:
            return await RejectedEvents(pool).since(rejected_after)
        finally:
            await pool.close()

    events = run(parked())
    if as_json:
        for event in events:
            typer.echo(event.model_dump_json())
        return
    if not events:
        typer.echo("No rejected events" + (f" since {since}" if since else ""))
        return
    for event in events:
        typer.echo(
            f"{event.rejected_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC  "
            f"replay id {event.replay_id}  {event.reason}  {_shortened(event.payload)}"
        )
    typer.echo(f"{len(events)} rejected; deliver again: portalctl events replay --from REPLAY_ID")


def _shortened(payload: str) -> str:
    return payload if len(payload) <= PAYLOAD_SHOWN else payload[:PAYLOAD_SHOWN] + "..."


@events_app.command("replay")
def replay(
    first: Annotated[
        str,
        typer.Option("--from", help="the first replay id to deliver again (as events shows it)"),
    ],
    last: Annotated[
        str | None,
        typer.Option("--to", help="the last one [default: the newest retained event]"),
    ] = None,
) -> None:
    """Deliver retained Platform Events again, from one replay id (to another), through the
    bridge's intake: events already handled are recognised by their workflow id, unusable
    ones are parked again (once). The live bridge's stored replay id is left alone."""

    async def replay_range_of_events(progress: Progress, task: TaskID) -> Counter[IntakeOutcome]:
        events = load(PlatformEventSettings)
        transport = events.events_transport
        replay_range = ReplayRange(
            _replay_id(first, transport), None if last is None else _replay_id(last, transport)
        )
        async with configured_bridge(
            events,
            redis_url=None,
            on_event=lambda _event, _outcome: progress.advance(task),
            replay_range=replay_range,
        ) as replaying_bridge:
            replaying_bridge.position = replay_range.subscribe_from()
            await replaying_bridge.run(stop_when_quiet_for=REPLAY_QUIET_SECONDS)
            return replaying_bridge.counts

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} events")
    ) as progress:
        task = progress.add_task(f"Replaying Platform Events from {first}", total=None)
        counts = run(replay_range_of_events(progress, task))
    for outcome in IntakeOutcome:
        typer.echo(f"{outcome.value:>18}: {counts[outcome]}")
