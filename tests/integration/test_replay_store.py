"""The bridge's replay id in a real Redis (TEST_REDIS_URL): whatever a person or another
program left under the key, reading it back either gives an event's replay id or says, in one
error naming the key, what is wrong with the value; a good id is written over it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from integrations.config import EventTransport
from integrations.redis_connection import redis_client
from integrations.replay_store import ReplayIdStore, UnusableReplayIdError, replay_key
from tests.conftest import TEST_REDIS_URL


@pytest.fixture
def channel() -> str:
    """A channel of this test alone: the bridge tests own the real channel's key."""
    return f"/event/ReplayStoreTest{uuid.uuid4().hex}__e"


@pytest.fixture
async def redis(channel: str) -> AsyncIterator[Redis]:
    async with redis_client(TEST_REDIS_URL) as redis:
        yield redis
        await redis.delete(replay_key(channel))


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        pytest.param(b"", "is empty", id="empty"),
        pytest.param(b"latest", "is 'latest', not a whole number", id="non-numeric"),
        pytest.param(b"-7", "is '-7', negative: replay ids of events are positive", id="negative"),
        pytest.param(
            b"-1",
            "is -1, the subscription option for new events only, not the replay id of an event"
            " (the bridge stores only those)",
            id="subscription-option",
        ),
        pytest.param(
            b"99999999999999999999",
            "is '99999999999999999999', larger than any replay id (the largest is"
            " 9223372036854775807)",
            id="absurdly-large",
        ),
        pytest.param(
            b"\xac\xed\x00\x05", r"is binary data, not text (b'\xac\xed\x00\x05')", id="binary"
        ),
    ],
)
async def test_a_stored_value_that_is_no_replay_id_is_refused_naming_key_and_problem(
    redis: Redis, channel: str, stored: bytes, problem: str
) -> None:
    await redis.set(replay_key(channel), stored)

    with pytest.raises(UnusableReplayIdError) as refused:
        await ReplayIdStore(redis, channel).load()

    assert (refused.value.key, refused.value.problem) == (replay_key(channel), problem)
    assert str(refused.value) == f"sf:pe:replay:{channel} {problem}"


async def test_a_key_of_another_redis_type_is_refused_naming_the_type(
    redis: Redis, channel: str
) -> None:
    await redis.rpush(replay_key(channel), b"8301245")

    with pytest.raises(UnusableReplayIdError) as refused:
        await ReplayIdStore(redis, channel).load()

    assert refused.value.problem == "holds a Redis list, not a string value"


async def test_a_saved_replay_id_replaces_an_unusable_value(redis: Redis, channel: str) -> None:
    await redis.rpush(replay_key(channel), b"garbage")
    store = ReplayIdStore(redis, channel)

    await store.save(8301245)

    assert await ReplayIdStore(redis, channel).load() == 8301245
    assert await redis.get(replay_key(channel)) == b"8301245"


PUBSUB_REPLAY_ID = b"\x00\x00\x00\x00\x00\x5a\x94\xf0\x00\x00"


async def test_a_pubsub_replay_id_is_stored_as_opaque_bytes_and_read_back(
    redis: Redis, channel: str
) -> None:
    await ReplayIdStore(redis, channel, transport=EventTransport.PUBSUB).save(PUBSUB_REPLAY_ID)

    assert await redis.get(replay_key(channel)) == b"pubsub:00000000005a94f00000"
    store = ReplayIdStore(redis, channel, transport=EventTransport.PUBSUB)
    assert await store.load() == PUBSUB_REPLAY_ID


@pytest.mark.parametrize(
    ("written_by", "read_by", "problem"),
    [
        pytest.param(
            EventTransport.PUBSUB,
            EventTransport.COMETD,
            "holds a Pub/Sub API replay id (written with SF_EVENTS_TRANSPORT=pubsub); CometD "
            "cannot resume from it",
            id="pubsub-id-read-by-cometd",
        ),
        pytest.param(
            EventTransport.COMETD,
            EventTransport.PUBSUB,
            "holds 4242, a CometD replay id (written with SF_EVENTS_TRANSPORT=cometd); the "
            "Pub/Sub API cannot resume from it",
            id="cometd-id-read-by-pubsub",
        ),
    ],
)
async def test_one_transports_replay_id_is_never_read_as_the_others(
    redis: Redis,
    channel: str,
    written_by: EventTransport,
    read_by: EventTransport,
    problem: str,
) -> None:
    replay_id = PUBSUB_REPLAY_ID if written_by is EventTransport.PUBSUB else 4242
    await ReplayIdStore(redis, channel, transport=written_by).save(replay_id)

    with pytest.raises(UnusableReplayIdError) as unusable:
        await ReplayIdStore(redis, channel, transport=read_by).load()

    assert unusable.value.problem == problem


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        pytest.param(b"pubsub:not hex!", "is b'pubsub:not hex!', not pubsub:<hex>"),
        pytest.param(b"pubsub:", "holds a Pub/Sub API replay id of 0 bytes (1 to 64 expected)"),
    ],
)
async def test_a_damaged_pubsub_replay_id_is_unusable(
    redis: Redis, channel: str, stored: bytes, problem: str
) -> None:
    await redis.set(replay_key(channel), stored)

    with pytest.raises(UnusableReplayIdError) as unusable:
        await ReplayIdStore(redis, channel, transport=EventTransport.PUBSUB).load()

    assert unusable.value.problem == problem
