"""Platform Events the org has published, retained for 72 hours, addressed by replay id.

Replay ids are opaque to subscribers: each channel starts at a large random number and
moves up by a random step, so a client that assumes contiguous ids fails in tests
(Streaming API Developer Guide, "Message Durability":
https://developer.salesforce.com/docs/atlas.en-us.244.0.api_streaming.meta/api_streaming/using_streaming_api_durability.htm).
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emulators.salesforce.clock import OrgClock
from emulators.salesforce.ids import new_id

ORDER_PROVISION_CHANNEL = "/event/OrderProvisionRequested__e"
PLATFORM_EVENT_CHANNELS = frozenset({ORDER_PROVISION_CHANNEL})
RETENTION = timedelta(hours=72)
REPLAY_NEW = -1
REPLAY_ALL = -2
PUBLISHER_USER_ID = new_id("005", 2)
"""`CreatedById` of every event: the user whose approval ran the publishing Flow."""

_BEFORE_EVERY_EVENT = 0
_FIRST_REPLAY_IDS = range(1_000_000, 9_000_000)
_MAX_REPLAY_ID_STEP = 50


class UnknownChannelError(LookupError):
    pass


class InvalidReplayIdError(ValueError):
    """Salesforce's text, the id in literal braces, two spaces after "invalid.", as the
    server sends it: "400::The replayId {1553783} you provided was invalid.  Please provide
    a valid ID, -2 to replay all events, or -1 to replay only new events."
    (https://github.com/forcedotcom/EMP-Connector/issues/14; the "Streaming API Error Codes"
    table, https://developer.salesforce.com/docs/platform/api-streaming/guide/streaming-error-codes.html,
    writes the braces as `{replay_id}`)."""

    def __init__(self, replay_id: object) -> None:
        super().__init__(
            f"400::The replayId {{{replay_id}}} you provided was invalid.  Please provide a"
            " valid ID, -2 to replay all events, or -1 to replay only new events."
        )


@dataclass(frozen=True)
class PublishedEvent:
    channel: str
    replay_id: int
    sequence: int
    """Publication order across channels."""
    published_at: datetime
    payload: dict[str, Any]
    event_uuid: str

    def message(self) -> dict[str, Any]:
        """The Bayeux message a subscriber receives."""
        return {
            "data": {
                "schema": _schema_id(self.channel),
                "payload": self.payload,
                "event": {"replayId": self.replay_id, "EventUuid": self.event_uuid},
            },
            "channel": self.channel,
        }


class EventBus:
    """Not locked: the emulator touches it only from its event loop, between awaits."""

    def __init__(self, clock: OrgClock) -> None:
        self._clock = clock
        self._random = random.Random()
        self._retained: dict[str, list[PublishedEvent]] = {
            channel: [] for channel in PLATFORM_EVENT_CHANNELS
        }
        self._last_replay_ids: dict[str, int] = {
            channel: self._random.choice(_FIRST_REPLAY_IDS) for channel in PLATFORM_EVENT_CHANNELS
        }
        self._sequence = 0
        self._listeners: list[Callable[[str], None]] = []

    def on_publish(self, listener: Callable[[str], None]) -> None:
        """Call `listener(channel)` after every publication."""
        self._listeners.append(listener)

    def clear(self) -> None:
        """Forget every event; replay ids keep counting up so a stale id never matches."""
        for events in self._retained.values():
            events.clear()

    def publish(self, channel: str, payload: Mapping[str, Any]) -> PublishedEvent:
        """Publish any payload (bad ones too); `CreatedDate`/`CreatedById` unless given."""
        self._check_channel(channel)
        now = self._clock.now()
        self._last_replay_ids[channel] += self._random.randint(1, _MAX_REPLAY_ID_STEP)
        self._sequence += 1
        event = PublishedEvent(
            channel=channel,
            replay_id=self._last_replay_ids[channel],
            sequence=self._sequence,
            published_at=now,
            payload={
                "CreatedDate": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "CreatedById": PUBLISHER_USER_ID,
                **payload,
            },
            event_uuid=str(uuid.uuid4()),
        )
        self._retained[channel].append(event)
        for listener in self._listeners:
            listener(channel)
        return event

    def channels(self) -> frozenset[str]:
        return PLATFORM_EVENT_CHANNELS

    def latest_replay_id(self, channel: str) -> int:
        """The replay id of the channel's newest event (published or not yet: where -1 starts)."""
        self._check_channel(channel)
        return self._last_replay_ids[channel]

    def retained(self, channel: str) -> list[PublishedEvent]:
        self._check_channel(channel)
        oldest_kept = self._clock.now() - RETENTION
        events = [event for event in self._retained[channel] if event.published_at >= oldest_kept]
        self._retained[channel] = events
        return list(events)

    def start_position(self, channel: str, replay_id: int) -> int:
        """Where a subscription with this replay id starts: it gets the events after it."""
        self._check_channel(channel)
        if replay_id == REPLAY_ALL:
            return _BEFORE_EVERY_EVENT
        if replay_id == REPLAY_NEW:
            return self._last_replay_ids[channel]
        if self.is_retained(channel, replay_id):
            return replay_id
        raise InvalidReplayIdError(replay_id)

    def is_retained(self, channel: str, replay_id: int) -> bool:
        return any(event.replay_id == replay_id for event in self.retained(channel))

    def after(self, channel: str, position: int) -> list[PublishedEvent]:
        return [event for event in self.retained(channel) if event.replay_id > position]

    def _check_channel(self, channel: str) -> None:
        if channel not in PLATFORM_EVENT_CHANNELS:
            raise UnknownChannelError(channel)


def _schema_id(channel: str) -> str:
    """A stable 22-character id per event type, shaped like Salesforce's schema ids."""
    digest = hashlib.sha256(channel.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
