"""The Platform Event bridge: Salesforce events in, `ProvisionOrder` workflows out, nothing
lost and nothing doubled.

Events of different orders are handed to Temporal concurrently, those of one order in
arrival order; the replay id advances in arrival order and only past events Temporal
acknowledged, so the stored id is never ahead of an unacknowledged event (at-least-once).
The workflow id makes a redelivered event harmless (exactly-once effect).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog
from redis.exceptions import RedisError
from temporalio.client import Client
from temporalio.service import RPCError

from integrations.config import (
    DatabaseSettings,
    PlatformEventSettings,
    ReplayMode,
    SalesforceSettings,
)
from integrations.database import open_pool
from integrations.intake_status import INTAKE_STATUS
from integrations.leader_lease import Fence
from integrations.metrics import (
    PLATFORM_EVENT_LAG,
    PLATFORM_EVENTS_HANDLED,
    PLATFORM_EVENTS_RECEIVED,
)
from integrations.redis_connection import redis_client
from integrations.rejected_events import ParkingUnavailableError, RejectedEvents
from integrations.replay_store import ReplayIdStore, UnusableReplayIdError
from integrations.salesforce.auth import PrivateKeySource, SalesforceAuth
from integrations.salesforce.event_transports import open_transport
from integrations.salesforce.streaming import (
    InvalidReplayIdError,
    PlatformEvent,
    PlatformEventTransport,
    ReplayPosition,
)
from integrations.tracing import platform_event_span
from starters.bridge.intake import IntakeOutcome, ProvisionIntake, event_created_at
from starters.bridge.replay_range import ReplayRange

log = structlog.get_logger(__name__)

REPLAY_NEW_ONLY = -1
REPLAY_ALL_RETAINED = -2
MAX_TEMPORAL_BACKOFF_SECONDS = 30.0
MAX_EVENTS_IN_FLIGHT = 32
"""Events handed to Temporal at once: one at a time, a backfill would take an RPC round
trip per event."""
HANDED_TO_WORKFLOW = (IntakeOutcome.STARTED, IntakeOutcome.ALREADY_RUNNING)


class EventBridge:
    def __init__(
        self,
        transport: PlatformEventTransport,
        intake: ProvisionIntake,
        channel: str,
        *,
        store: ReplayIdStore | None,
        on_event: Callable[[PlatformEvent, IntakeOutcome], None] | None = None,
    ) -> None:
        """`store` None: do not persist the position (a one-off backfill beside a live bridge)."""
        self._transport = transport
        self._intake = intake
        self._channel = channel
        self._store = store
        self._on_event = on_event
        self.position: ReplayPosition = REPLAY_NEW_ONLY
        self.counts: Counter[IntakeOutcome] = Counter()

    async def resume_position(self, settings: PlatformEventSettings) -> None:
        """Stored replay id wins; with none stored, SF_EVENTS_REPLAY picks -1 or -2."""
        stored = await self._stored_position()
        if stored is not None:
            self.position = stored
        else:
            all_events = settings.events_replay is ReplayMode.ALL
            self.position = REPLAY_ALL_RETAINED if all_events else REPLAY_NEW_ONLY
        log.info("Subscribing to Platform Events", channel=self._channel, replay_from=self.position)

    async def _stored_position(self) -> ReplayPosition | None:
        """With Redis unreadable, or anything but an event's replay id stored, -2: nothing
        tells which events were missed, and replaying handled ones is harmless (LATEST would
        silently skip the missed ones)."""
        if self._store is None:
            return None
        try:
            return await self._store.load()
        except UnusableReplayIdError as error:
            log.error(
                "Stored replay id unusable: replaying all retained events (-2); events "
                "already handled are recognised by their workflow id",
                channel=self._channel,
                key=error.key,
                problem=error.problem,
            )
            return REPLAY_ALL_RETAINED
        except RedisError as error:
            log.error(
                "Stored replay id unreadable: replaying all retained events (-2); events "
                "already handled are recognised by their workflow id",
                channel=self._channel,
                error=str(error),
            )
            return REPLAY_ALL_RETAINED

    async def forget_position(self) -> None:
        if self._store:
            await self._store.forget()

    async def run(self, *, stop_when_quiet_for: float | None = None) -> None:
        """Hand every event to Temporal, forever, or until no event came for that many seconds
        (a backfill: Salesforce itself holds an empty poll for up to 110 s)."""
        while True:
            batches = aiter(self._transport.batches(self._channel, lambda: self.position))
            try:
                while (batch := await _next_batch(batches, stop_when_quiet_for)) is not None:
                    await self._hand_over(batch)
                    if stop_when_quiet_for is not None and not batch:
                        return
                return
            except InvalidReplayIdError as error:
                # On /meta/subscribe (a stored id older than 72 h) or on /meta/connect (the
                # subscription's event was purged while it ran): the same fallback.
                log.error(
                    "Replay id no longer retained by Salesforce: replaying all retained events "
                    "(-2); events already handled are recognised by their workflow id",
                    channel=self._channel,
                    replay_id=error.replay_id,
                    error=str(error),
                )
                self.position = REPLAY_ALL_RETAINED

    async def _hand_over(self, batch: list[PlatformEvent]) -> None:
        PLATFORM_EVENTS_RECEIVED.labels(self._channel).inc(len(batch))
        in_flight = asyncio.Semaphore(MAX_EVENTS_IN_FLIGHT)
        last_of_order: dict[str, asyncio.Task[IntakeOutcome]] = {}
        submissions: list[tuple[PlatformEvent, asyncio.Task[IntakeOutcome]]] = []
        for event in batch:
            order = str(event.payload.get("OrderId__c"))
            submission = asyncio.create_task(
                self._submit_after(last_of_order.get(order), event, in_flight)
            )
            last_of_order[order] = submission
            submissions.append((event, submission))
        try:
            for event, submission in submissions:
                await self._acknowledge(event, await submission)
        finally:
            for _, submission in submissions:
                submission.cancel()
        if self._store:
            await self._store.flush()

    async def _submit_after(
        self,
        previous: asyncio.Task[IntakeOutcome] | None,
        event: PlatformEvent,
        in_flight: asyncio.Semaphore,
    ) -> IntakeOutcome:
        """Submit once the previous event of the same order was acknowledged."""
        if previous is not None:
            await asyncio.wait([previous])
        async with in_flight:
            order_id = event.payload.get("OrderId__c")
            with platform_event_span(self._channel, event.replay_id, order_id):
                return await self._submit_until_acknowledged(event)

    async def _acknowledge(self, event: PlatformEvent, outcome: IntakeOutcome) -> None:
        self.counts[outcome] += 1
        PLATFORM_EVENTS_HANDLED.labels(self._channel, outcome.value).inc()
        INTAKE_STATUS.handed_over(event.replay_id, self._observe_lag(event, outcome))
        self.position = event.replay_id
        if self._store:
            await self._store.save(event.replay_id)
        if self._on_event:
            self._on_event(event, outcome)

    def _observe_lag(self, event: PlatformEvent, outcome: IntakeOutcome) -> float | None:
        """Only events that reached a workflow: a replayed event already handled, or a bad
        one, says nothing about how fast events get through."""
        created_at = event_created_at(event)
        if created_at is None or outcome not in HANDED_TO_WORKFLOW:
            return None
        lag = (datetime.now(UTC) - created_at).total_seconds()
        PLATFORM_EVENT_LAG.labels(self._channel).observe(lag)
        return lag

    async def _submit_until_acknowledged(self, event: PlatformEvent) -> IntakeOutcome:
        backoff = 1.0
        while True:
            try:
                return await self._intake.submit(event)
            except RPCError as error:
                log.warning(
                    "Temporal did not acknowledge the event; retrying, replay id not advanced",
                    replay_id=event.replay_id,
                    error=str(error),
                    retry_in_seconds=backoff,
                )
            except ParkingUnavailableError as error:
                log.warning(
                    "PostgreSQL did not take the rejected event; retrying, replay id not advanced",
                    replay_id=event.replay_id,
                    error=str(error),
                    retry_in_seconds=backoff,
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_TEMPORAL_BACKOFF_SECONDS)


async def _next_batch(
    batches: AsyncIterator[list[PlatformEvent]], quiet_seconds: float | None
) -> list[PlatformEvent] | None:
    """The next batch, or None when none came within `quiet_seconds`."""
    try:
        async with asyncio.timeout(quiet_seconds) as deadline:
            return await anext(batches)
    except TimeoutError:
        if deadline.expired():
            return None
        raise


@asynccontextmanager
async def opened_bridge(
    client: Client,
    *,
    task_queue: str,
    salesforce: SalesforceSettings,
    events: PlatformEventSettings,
    redis_url: str | None,
    database: DatabaseSettings,
    on_event: Callable[[PlatformEvent, IntakeOutcome], None] | None = None,
    private_key: PrivateKeySource | None = None,
    fence: Fence | None = None,
    replay_range: ReplayRange | None = None,
) -> AsyncIterator[EventBridge]:
    """A bridge with its connections; `redis_url` None: do not persist the replay id;
    `fence`: write the replay id only during that term as leader (starters/bridge/leadership.py);
    `private_key` None: the JWT key named in the Salesforce settings; `replay_range`: hand
    over only the events in it (`portalctl events replay`)."""
    auth = SalesforceAuth(salesforce, private_key=private_key)
    transport = open_transport(salesforce, events, auth)
    redis = redis_client(redis_url) if redis_url else None
    channel = events.provision_event_channel
    INTAKE_STATUS.subscribing(events.events_transport.value, channel)
    pool = await open_pool(database)
    try:
        yield EventBridge(
            replay_range.restrict(transport) if replay_range else transport,
            ProvisionIntake(client, task_queue=task_queue, rejected=RejectedEvents(pool)),
            channel,
            store=(
                ReplayIdStore(redis, channel, fence=fence, transport=events.events_transport)
                if redis
                else None
            ),
            on_event=on_event,
        )
    finally:
        await transport.aclose()
        await pool.close()
        auth.close()
        if redis:
            await redis.aclose()
