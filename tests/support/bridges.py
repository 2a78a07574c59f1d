"""Platform Event bridges in tests, built as `portalctl bridge` builds them, against the
emulated org."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from temporalio.client import Client

from integrations.config import DatabaseSettings, EventTransport, PlatformEventSettings, ReplayMode
from integrations.salesforce.streaming import PlatformEvent
from starters.bridge.event_bridge import EventBridge, opened_bridge
from starters.bridge.intake import IntakeOutcome
from starters.demo.local_vendors import LocalVendors


@asynccontextmanager
async def positioned_bridge(
    client: Client,
    *,
    task_queue: str,
    vendors: LocalVendors,
    database: DatabaseSettings,
    transport: EventTransport = EventTransport.PUBSUB,
    replay: ReplayMode = ReplayMode.ALL,
    redis_url: str | None = None,
    on_event: Callable[[PlatformEvent, IntakeOutcome], None] | None = None,
) -> AsyncIterator[EventBridge]:
    """A bridge positioned where it resumes: at the replay id stored in `redis_url`'s Redis,
    else where SF_EVENTS_REPLAY=`replay` says. `redis_url` None keeps no replay id, as
    `portalctl order backfill` does."""
    events = PlatformEventSettings(
        events_enabled=True, events_replay=replay, events_transport=transport
    )
    async with opened_bridge(
        client,
        task_queue=task_queue,
        salesforce=vendors.salesforce_settings,
        events=events,
        redis_url=redis_url,
        database=database,
        on_event=on_event,
    ) as bridge:
        await bridge.resume_position(events)
        yield bridge
