"""A range of retained Platform Events to deliver again (`portalctl events replay`): a
transport that passes on only the events from `first` to `last`, then ends the replay.

CometD replay ids are whole numbers that grow with each event, so the subscription starts
right before `first` and any event from `first` on is in the range. Opaque replay ids (the
Pub/Sub API's bytes) have no order: the replay starts from every retained event and the range
begins at the event whose id is `first` and ends at the one whose id is `last`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from integrations.salesforce.streaming import PlatformEvent, PlatformEventTransport

REPLAY_ALL_RETAINED = -2
ReplayId = int | bytes


@dataclass(frozen=True)
class ReplayRange:
    first: ReplayId
    last: ReplayId | None = None
    """None: up to the newest retained event."""

    def subscribe_from(self) -> int:
        """The position to subscribe from: the events after it include `first`."""
        if isinstance(self.first, int) and self.first > 1:
            return self.first - 1
        return REPLAY_ALL_RETAINED

    def restrict(self, transport: PlatformEventTransport) -> PlatformEventTransport:
        return _RangeTransport(transport, self)

    def starts_at(self, replay_id: ReplayId) -> bool:
        if isinstance(self.first, int) and isinstance(replay_id, int):
            return replay_id >= self.first
        return replay_id == self.first

    def is_past(self, replay_id: ReplayId) -> bool:
        """The event comes after `last`, so it is not replayed (and nothing after it is)."""
        return isinstance(self.last, int) and isinstance(replay_id, int) and replay_id > self.last

    def ends_at(self, replay_id: ReplayId) -> bool:
        return replay_id == self.last


class _RangeTransport:
    """Batches of the events in the range; an empty batch once the range is over (which ends
    a replay run with `stop_when_quiet_for`), or when the transport's is (nothing newer)."""

    def __init__(self, transport: PlatformEventTransport, replay_range: ReplayRange) -> None:
        self._transport = transport
        self._range = replay_range
        self._inside = False

    async def batches(
        self, channel: str, replay_from: Callable[[], ReplayId]
    ) -> AsyncIterator[list[PlatformEvent]]:
        async for batch in self._transport.batches(channel, replay_from):
            kept, over = self._select(batch)
            if kept or not batch:
                yield kept
            if over:
                yield []
                return

    def _select(self, batch: list[PlatformEvent]) -> tuple[list[PlatformEvent], bool]:
        """The events of `batch` in the range, and whether the range is over."""
        kept: list[PlatformEvent] = []
        for event in batch:
            self._inside = self._inside or self._range.starts_at(event.replay_id)
            if not self._inside:
                continue
            if self._range.is_past(event.replay_id):
                return kept, True
            kept.append(event)
            if self._range.ends_at(event.replay_id):
                return kept, True
        return kept, False

    async def check_subscription(self, channel: str) -> None:
        await self._transport.check_subscription(channel)

    async def aclose(self) -> None:
        await self._transport.aclose()
