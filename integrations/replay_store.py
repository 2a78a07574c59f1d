"""Where the bridge remembers how far it got: `sf:pe:replay:<channel>` in Redis (the key the
original subscriber used, so a migration keeps its place).

Redis being down must not stop intake: the latest id is then kept in memory and written as
soon as Redis answers again (the seed's "Redis down -> keep going" fallback).

Only the bridge writes the key, and only the replay id of an event it handed over: a
positive whole number, at most a Java long, as Salesforce's clients hold it ("Message
Durability",
https://developer.salesforce.com/docs/atlas.en-us.244.0.api_streaming.meta/api_streaming/using_streaming_api_durability.htm).
-1 and -2 are subscription options ("new events only", "every retained event"), not ids of
events, so they are never stored. Anything else found there (a person edited it, another
program wrote it) is `UnusableReplayIdError`, which says what is wrong with the value.

The Pub/Sub API's replay ids are opaque bytes: they are stored under the same key as
`pubsub:` and their hex digits (as logs and `portalctl events rejected` show them), so that
neither transport ever reads the other's id as its own. A bridge that finds the other
transport's id (SF_EVENTS_TRANSPORT was changed) gets `UnusableReplayIdError` naming the
transport that wrote it, and replays every retained event, which the workflow ids make
harmless.
"""

from __future__ import annotations

import re

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from integrations.config import EventTransport
from integrations.leader_lease import Fence
from integrations.metrics import REPLAY_IDS_STORED

log = structlog.get_logger(__name__)

LARGEST_REPLAY_ID = 2**63 - 1
"""Salesforce's CometD clients hold a replay id in a Java long."""
PUBSUB_PREFIX = b"pubsub:"
LONGEST_PUBSUB_REPLAY_ID = 64
"""Bytes; Salesforce's are around ten, the bound only refuses junk."""
ReplayId = int | bytes
_DIGITS = re.compile(rb"[0-9]+")
_SHOWN_LENGTH = 40
_SUBSCRIPTION_OPTIONS = {-1: "new events only", -2: "every retained event"}


def replay_key(channel: str) -> str:
    return f"sf:pe:replay:{channel}"


class UnusableReplayIdError(ValueError):
    """What is stored under the replay id key is not the replay id of an event."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key} {problem}")
        self.key = key
        self.problem = problem


def parse_replay_id(value: bytes) -> int:
    """The replay id stored as `value`; raises ValueError saying what is wrong with it."""
    if not value:
        raise ValueError("is empty")
    try:
        text = value.decode()
    except UnicodeDecodeError:
        raise ValueError(f"is binary data, not text ({_shown(value)})") from None
    shown = _shown(text)
    negative = value.startswith(b"-")
    digits = value[1:] if negative else value
    if not _DIGITS.fullmatch(digits):
        raise ValueError(f"is {shown}, not a whole number")
    if negative:
        option = _SUBSCRIPTION_OPTIONS.get(int(text)) if len(digits) == 1 else None
        if option is not None:
            raise ValueError(
                f"is {text}, the subscription option for {option}, not the replay id of an "
                "event (the bridge stores only those)"
            )
        raise ValueError(f"is {shown}, negative: replay ids of events are positive")
    significant = digits.lstrip(b"0")
    if len(significant) > len(str(LARGEST_REPLAY_ID)) or int(text) > LARGEST_REPLAY_ID:
        raise ValueError(
            f"is {shown}, larger than any replay id (the largest is {LARGEST_REPLAY_ID})"
        )
    if not significant:
        raise ValueError("is 0, not the replay id of an event (they are positive)")
    return int(text)


def stored_form(replay_id: ReplayId) -> str:
    """The key's value for a replay id: decimal digits (CometD), `pubsub:<hex>` (Pub/Sub)."""
    if isinstance(replay_id, bytes):
        return PUBSUB_PREFIX.decode() + replay_id.hex()
    return str(replay_id)


def parse_stored_replay_id(value: bytes, transport: EventTransport) -> ReplayId:
    """The replay id `transport` resumes from; raises ValueError saying what is wrong."""
    if value.startswith(PUBSUB_PREFIX):
        if transport is EventTransport.COMETD:
            raise ValueError(
                "holds a Pub/Sub API replay id (written with SF_EVENTS_TRANSPORT=pubsub); "
                "CometD cannot resume from it"
            )
        return _parse_pubsub_replay_id(value[len(PUBSUB_PREFIX) :])
    replay_id = parse_replay_id(value)
    if transport is EventTransport.PUBSUB:
        raise ValueError(
            f"holds {replay_id}, a CometD replay id (written with SF_EVENTS_TRANSPORT=cometd); "
            "the Pub/Sub API cannot resume from it"
        )
    return replay_id


def _parse_pubsub_replay_id(encoded: bytes) -> bytes:
    try:
        replay_id = bytes.fromhex(encoded.decode("ascii"))
    except ValueError:  # UnicodeDecodeError included
        raise ValueError(f"is {_shown(PUBSUB_PREFIX + encoded)}, not pubsub:<hex>") from None
    if not 0 < len(replay_id) <= LONGEST_PUBSUB_REPLAY_ID:
        raise ValueError(
            f"holds a Pub/Sub API replay id of {len(replay_id)} bytes (1 to "
            f"{LONGEST_PUBSUB_REPLAY_ID} expected)"
        )
    return replay_id


def _shown(value: bytes | str) -> str:
    """The value as a log line may show it: its start, and its length if it is cut."""
    if len(value) <= _SHOWN_LENGTH:
        return repr(value)
    unit = "bytes" if isinstance(value, bytes) else "characters"
    return f"{value[:_SHOWN_LENGTH]!r}... ({len(value)} {unit})"


class ReplayIdStore:
    def __init__(
        self,
        redis: Redis,
        channel: str,
        *,
        fence: Fence | None = None,
        transport: EventTransport = EventTransport.COMETD,
    ) -> None:
        """`fence`: write only while its term holds the leader lease (None: always write);
        `transport`: whose replay ids `load` accepts."""
        self._redis = redis
        self._transport = transport
        self._fence = fence
        self._channel = channel
        self.key = replay_key(channel)
        self._unsaved: ReplayId | None = None
        self._redis_down = False

    async def load(self) -> ReplayId | None:
        """The stored replay id; the unsaved one in memory wins, being newer. Raises
        `UnusableReplayIdError` when the key holds anything but an event's replay id, and
        `RedisError` when Redis cannot say whether an id is stored."""
        if self._unsaved is not None:
            return self._unsaved
        try:
            stored = await self._redis.get(self.key)
        except ResponseError as error:
            if str(error).startswith("WRONGTYPE"):
                kind = await self._redis.type(self.key)
                raise UnusableReplayIdError(
                    self.key, f"holds a Redis {_text(kind)}, not a string value"
                ) from None
            self._note_redis_down(error)
            raise
        except RedisError as error:
            self._note_redis_down(error)
            raise
        self._note_redis_up()
        if stored is None:
            return None
        try:
            value = stored if isinstance(stored, bytes) else stored.encode()
            return parse_stored_replay_id(value, self._transport)
        except ValueError as problem:
            raise UnusableReplayIdError(self.key, str(problem)) from None

    async def forget(self) -> None:
        self._unsaved = None
        await self._redis.delete(self.key)

    async def save(self, replay_id: ReplayId) -> None:
        self._unsaved = replay_id
        await self.flush()

    async def flush(self) -> None:
        """Write the id kept in memory, if any; called again after each batch."""
        if self._unsaved is None:
            return
        try:
            written = await self._write(stored_form(self._unsaved))
        except RedisError as error:
            self._note_redis_down(error)
            return
        if not written:
            return
        self._unsaved = None
        REPLAY_IDS_STORED.labels(self._channel).inc()
        self._note_redis_up()

    async def _write(self, value: str) -> bool:
        """Raises `LeaseLostError` when another bridge has taken over since this one's term
        began: it alone may advance the position from then on."""
        if self._fence is None:
            await self._redis.set(self.key, value)
            return True
        return await self._fence.write(self._redis, self.key, value)

    def _note_redis_down(self, error: RedisError) -> None:
        if not self._redis_down:
            log.warning(
                "Redis unavailable: replay id kept in memory until it is back",
                key=self.key,
                error=str(error),
            )
        self._redis_down = True

    def _note_redis_up(self) -> None:
        if self._redis_down:
            log.info("Redis is back: replay id persisted", key=self.key)
        self._redis_down = False


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
