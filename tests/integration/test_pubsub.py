"""The Pub/Sub API transport against the Salesforce emulator's gRPC endpoint, over real TLS
with the emulators' CA: flow control, keepalives, Avro payloads, the same event bus as
CometD, and the recoveries (expired session, server-closed stream, slow consumer, corrupted
replay id)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from emulators.salesforce import ORDER_PROVISION_CHANNEL, SalesforceEmulatorControl
from emulators.salesforce.control import pubsub_replay_id
from integrations.config import EventTransport, PlatformEventSettings
from integrations.salesforce.auth import SalesforceAuth
from integrations.salesforce.pubsub import pubsub_api_pb2 as api
from integrations.salesforce.pubsub import pubsub_api_pb2_grpc as api_grpc
from integrations.salesforce.pubsub.transport import PubSubTransport
from integrations.salesforce.streaming import (
    CometdTransport,
    InvalidReplayIdError,
    PlatformEvent,
    ReplayPosition,
)
from starters.demo.local_vendors import LocalVendors
from tests.support.json_log import log_lines
from tests.support.platform_events import BATCH_TIMEOUT_SECONDS, next_batch
from tests.support.polling import wait_until

CHANNEL = ORDER_PROVISION_CHANNEL
REPLAY_NEW = -1
REPLAY_ALL = -2
BATCH_SIZE = 2
KEEPALIVE_SECONDS = 0.3
ORDER_IDS = [f"8015g00000000{n}AAA" for n in range(5)]


@pytest.fixture
def salesforce(vendors: LocalVendors) -> SalesforceEmulatorControl:
    vendors.salesforce.set_pubsub_keepalive(KEEPALIVE_SECONDS)
    vendors.salesforce.set_connect_hold(KEEPALIVE_SECONDS)
    return vendors.salesforce


@pytest.fixture
async def transport(
    vendors: LocalVendors, salesforce: SalesforceEmulatorControl, auth: SalesforceAuth
) -> AsyncIterator[PubSubTransport]:
    events = PlatformEventSettings(pubsub_batch_size=BATCH_SIZE)
    transport = PubSubTransport(vendors.salesforce_settings, events, auth)
    yield transport
    await transport.aclose()


async def events_until(
    batches: AsyncIterator[list[PlatformEvent]], count: int
) -> list[PlatformEvent]:
    events: list[PlatformEvent] = []
    while len(events) < count:
        events.extend(await next_batch(batches))
    return events


def approve_all(salesforce: SalesforceEmulatorControl, count: int) -> list[bytes]:
    return [
        pubsub_replay_id(salesforce.publish_event({"OrderId__c": order_id}))
        for order_id in ORDER_IDS[:count]
    ]


async def test_events_arrive_in_batches_no_larger_than_requested_with_avro_payloads(
    salesforce: SalesforceEmulatorControl, transport: PubSubTransport
) -> None:
    published = approve_all(salesforce, 5)
    batches = transport.batches(CHANNEL, lambda: REPLAY_ALL)

    sizes = []
    events: list[PlatformEvent] = []
    while len(events) < 5:
        batch = await next_batch(batches)
        sizes.append(len(batch))
        events.extend(batch)
    await batches.aclose()

    assert max(sizes) <= BATCH_SIZE
    assert [event.replay_id for event in events] == published
    assert [event.payload["OrderId__c"] for event in events] == ORDER_IDS
    first = salesforce.list_events()[0]
    assert events[0].event_uuid == first["data"]["event"]["EventUuid"]
    assert events[0].payload["CreatedDate"] == first["data"]["payload"]["CreatedDate"]
    assert events[0].decode_error is None


async def test_no_more_events_are_asked_for_until_the_batch_is_taken(
    salesforce: SalesforceEmulatorControl, transport: PubSubTransport
) -> None:
    """Backpressure: while the caller holds a batch, the server has nothing requested."""
    approve_all(salesforce, 5)
    batches = transport.batches(CHANNEL, lambda: REPLAY_ALL)
    first = await events_until(batches, BATCH_SIZE)

    [stream] = salesforce.pubsub_streams()
    assert stream["pending"] == 0
    assert len(first) == BATCH_SIZE
    await batches.aclose()


async def test_a_keepalive_is_an_empty_batch(
    salesforce: SalesforceEmulatorControl, transport: PubSubTransport
) -> None:
    batches = transport.batches(CHANNEL, lambda: REPLAY_NEW)
    assert await next_batch(batches) == []
    [published] = approve_all(salesforce, 1)
    assert [event.replay_id for event in await events_until(batches, 1)] == [published]
    await batches.aclose()


async def test_one_approval_is_the_same_event_on_cometd_and_on_pubsub(
    vendors: LocalVendors,
    salesforce: SalesforceEmulatorControl,
    transport: PubSubTransport,
    auth: SalesforceAuth,
) -> None:
    cometd = CometdTransport(vendors.salesforce_settings, auth)
    [published] = approve_all(salesforce, 1)
    try:
        [on_cometd] = await events_until(cometd.batches(CHANNEL, lambda: REPLAY_ALL), 1)
    finally:
        await cometd.aclose()
    [on_pubsub] = await events_until(transport.batches(CHANNEL, lambda: REPLAY_ALL), 1)

    assert on_pubsub.replay_id == published
    assert isinstance(on_cometd.replay_id, int)
    assert pubsub_replay_id(on_cometd.replay_id) == on_pubsub.replay_id
    assert on_pubsub.event_uuid == on_cometd.event_uuid
    # Avro carries every field of the schema, null when unset.
    assert {k: v for k, v in on_pubsub.payload.items() if v is not None} == on_cometd.payload


@pytest.mark.parametrize(
    ("fault", "recovery"),
    [
        pytest.param(
            SalesforceEmulatorControl.expire_sessions,
            "salesforce session invalid, logging in again",
            id="expired-session",
        ),
        pytest.param(
            SalesforceEmulatorControl.close_pubsub_streams,
            "pubsub stream closed, subscribing again",
            id="server-closed-stream",
        ),
        pytest.param(
            lambda salesforce: salesforce.advance_clock(seconds=61),
            "pubsub stream closed, subscribing again",
            id="slow-consumer",
        ),
    ],
)
async def test_the_transport_subscribes_again_from_the_acknowledged_event(
    salesforce: SalesforceEmulatorControl,
    transport: PubSubTransport,
    json_log: io.StringIO,
    fault: Any,
    recovery: str,
) -> None:
    position: list[ReplayPosition] = [REPLAY_ALL]
    batches = transport.batches(CHANNEL, lambda: position[-1])
    [first, second] = approve_all(salesforce, 2)
    assert [event.replay_id for event in await events_until(batches, 2)] == [first, second]
    position.append(second)

    fault(salesforce)
    await wait_until(lambda: not salesforce.pubsub_streams(), "the server closes the stream")
    [third] = [pubsub_replay_id(salesforce.publish_event({"OrderId__c": ORDER_IDS[2]}))]
    events = await events_until(batches, 1)
    await batches.aclose()

    assert [event.replay_id for event in events] == [third]
    [line] = log_lines(json_log, recovery)
    assert line["attempt"] == 1


async def test_a_corrupted_replay_id_is_an_invalid_replay_id(
    salesforce: SalesforceEmulatorControl, transport: PubSubTransport
) -> None:
    [published] = approve_all(salesforce, 1)
    salesforce.advance_clock(hours=73)

    with pytest.raises(InvalidReplayIdError) as raised:
        await next_batch(transport.batches(CHANNEL, lambda: published))

    assert raised.value.replay_id == published
    assert "replayid.corrupted" in str(raised.value)


async def test_a_cometd_replay_id_never_resumes_a_pubsub_subscription(
    transport: PubSubTransport,
) -> None:
    with pytest.raises(InvalidReplayIdError, match="CometD replay id"):
        await next_batch(transport.batches(CHANNEL, lambda: 1_000_123))


async def test_a_call_without_a_session_is_unauthenticated(vendors: LocalVendors) -> None:
    settings = vendors.salesforce_settings
    assert settings.ca_bundle is not None
    credentials = grpc.ssl_channel_credentials(settings.ca_bundle.read_bytes())
    async with grpc.aio.secure_channel(settings.pubsub_endpoint, credentials) as channel:
        stub = api_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetTopic(api.TopicRequest(topic_name=CHANNEL), metadata=())

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    trailers = dict(raised.value.trailing_metadata() or ())
    assert trailers["error-code"] == "sfdc.platform.eventbus.grpc.service.auth.error"


async def test_check_subscription_reads_the_topic(transport: PubSubTransport) -> None:
    await transport.check_subscription(CHANNEL)


def test_the_transport_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SF_EVENTS_TRANSPORT", raising=False)
    assert PlatformEventSettings().events_transport is EventTransport.PUBSUB


async def test_streams_are_listed_while_open(
    salesforce: SalesforceEmulatorControl, transport: PubSubTransport
) -> None:
    batches = transport.batches(CHANNEL, lambda: REPLAY_NEW)
    await next_batch(batches)
    await wait_until(lambda: len(salesforce.pubsub_streams()) == 1, "one open stream")
    await batches.aclose()


async def raw_subscription(
    vendors: LocalVendors, auth: SalesforceAuth, first: api.FetchRequest
) -> tuple[grpc.aio.Channel, Any, asyncio.Queue[api.FetchRequest]]:
    """A Subscribe call of our own, to watch the server's side of flow control."""
    settings = vendors.salesforce_settings
    assert settings.ca_bundle is not None
    token = await asyncio.to_thread(auth.token)
    channel = grpc.aio.secure_channel(
        settings.pubsub_endpoint, grpc.ssl_channel_credentials(settings.ca_bundle.read_bytes())
    )
    requests: asyncio.Queue[api.FetchRequest] = asyncio.Queue()
    requests.put_nowait(first)

    async def drain() -> AsyncIterator[api.FetchRequest]:
        while True:
            yield await requests.get()

    metadata = (
        ("accesstoken", token.access_token),
        ("instanceurl", token.instance_url),
        ("tenantid", token.org_id),
    )
    stub = api_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]
    return channel, stub.Subscribe(drain(), metadata=metadata), requests


async def test_the_server_never_sends_more_events_than_requested(
    vendors: LocalVendors, salesforce: SalesforceEmulatorControl, auth: SalesforceAuth
) -> None:
    approve_all(salesforce, 3)
    first = api.FetchRequest(topic_name=CHANNEL, replay_preset=api.EARLIEST, num_requested=1)
    channel, call, requests = await raw_subscription(vendors, auth, first)
    async with channel, asyncio.timeout(BATCH_TIMEOUT_SECONDS):
        one = await call.read()
        [stream] = salesforce.pubsub_streams()
        requests.put_nowait(api.FetchRequest(num_requested=2))
        two = await call.read()
        call.cancel()

    assert (len(one.events), one.pending_num_requested) == (1, 0)
    assert stream["pending"] == 0  # two more events wait, none requested
    assert (len(two.events), two.pending_num_requested) == (2, 0)


async def test_more_than_100_events_requested_at_once_is_refused(
    vendors: LocalVendors, salesforce: SalesforceEmulatorControl, auth: SalesforceAuth
) -> None:
    first = api.FetchRequest(topic_name=CHANNEL, num_requested=101)
    channel, call, _ = await raw_subscription(vendors, auth, first)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call.read()

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
