"""The CometD transport against the Salesforce emulator's Streaming API, over real TLS."""

from __future__ import annotations

import asyncio
import io
import itertools
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from emulators.faults import Fault, FaultKind
from emulators.salesforce import ORDER_PROVISION_CHANNEL, SalesforceEmulatorControl
from integrations.salesforce.auth import SalesforceAuth
from integrations.salesforce.streaming import (
    CometdTransport,
    InvalidReplayIdError,
    PlatformEvent,
    StreamingError,
)
from starters.demo.local_vendors import LocalVendors
from tests.support.json_log import log_lines
from tests.support.platform_events import BATCH_TIMEOUT_SECONDS, next_batch
from tests.support.polling import wait_until

CHANNEL = ORDER_PROVISION_CHANNEL
REPLAY_NEW = -1
REPLAY_ALL = -2
HOLD_SECONDS = 0.3
SALESFORCE_HOLD_SECONDS = 110
"""Salesforce holds a /meta/connect up to 110 s ("Clients and Timeouts")."""
RECONNECT_DEADLINE_SECONDS = 40
"""Salesforce forgets a client that has not come back 40 s after a response (same page)."""
CLIENT_FORGOTTEN = "salesforce forgot the cometd client, handshaking again"
HANDSHAKE = {
    "channel": "/meta/handshake",
    "version": "1.0",
    "minimumVersion": "1.0",
    "supportedConnectionTypes": ["long-polling"],
    "ext": {"replay": True},
    "id": "1",
}


@dataclass
class Acknowledged:
    """The caller's side of `replay_from`: the replay id it last acknowledged."""

    replay_id: int

    def __call__(self) -> int:
        return self.replay_id


@pytest.fixture
def salesforce(vendors: LocalVendors) -> SalesforceEmulatorControl:
    vendors.salesforce.set_connect_hold(HOLD_SECONDS)
    return vendors.salesforce


@pytest.fixture
async def transport(
    vendors: LocalVendors, salesforce: SalesforceEmulatorControl, auth: SalesforceAuth
) -> AsyncIterator[CometdTransport]:
    transport = CometdTransport(vendors.salesforce_settings, auth)
    yield transport
    await transport.aclose()


def replay_ids(batch: list[PlatformEvent]) -> list[int | bytes]:
    return [event.replay_id for event in batch]


def invalid_replay_id_error(replay_id: int) -> str:
    """Salesforce's text, the id in braces (https://github.com/forcedotcom/EMP-Connector/issues/14)."""
    return (
        f"400::The replayId {{{replay_id}}} you provided was invalid.  Please provide a valid"
        " ID, -2 to replay all events, or -1 to replay only new events."
    )


async def test_replay_all_delivers_every_retained_event_in_order_in_one_batch(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    published = [salesforce.publish_event({"OrderId__c": f"8015g00000000{n}"}) for n in range(3)]
    published.append(salesforce.publish_event({"Unexpected__c": "no order id"}))

    batch = await next_batch(transport.batches(CHANNEL, lambda: REPLAY_ALL))

    assert replay_ids(batch) == published
    assert [event.payload.get("OrderId__c") for event in batch] == [
        "8015g000000000",
        "8015g000000001",
        "8015g000000002",
        None,
    ]
    assert batch[-1].payload["Unexpected__c"] == "no order id"
    assert all(event.channel == CHANNEL for event in batch)
    assert all(event.payload["CreatedDate"].endswith("Z") for event in batch)
    assert all(event.payload["CreatedById"].startswith("005") for event in batch)
    assert len({event.event_uuid for event in batch}) == len(batch)


def test_replay_ids_are_increasing_but_not_contiguous(
    salesforce: SalesforceEmulatorControl,
) -> None:
    published = [salesforce.publish_event({"OrderId__c": "8015g0000000001"}) for _ in range(6)]

    steps = [later - earlier for earlier, later in itertools.pairwise(published)]
    assert all(step > 0 for step in steps)
    assert any(step > 1 for step in steps)
    assert [event["data"]["event"]["replayId"] for event in salesforce.list_events()] == published


async def test_replay_new_delivers_only_events_published_after_subscribing(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    salesforce.publish_event({"OrderId__c": "8015g0000000001"})
    batches = transport.batches(CHANNEL, lambda: REPLAY_NEW)
    assert await next_batch(batches) == []

    published = [salesforce.publish_event({"OrderId__c": "8015g0000000002"}) for _ in range(2)]

    assert replay_ids(await next_batch(batches)) == published


async def test_replay_from_a_stored_id_delivers_only_later_events(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    published = [salesforce.publish_event({"OrderId__c": "8015g0000000001"}) for _ in range(3)]

    batch = await next_batch(transport.batches(CHANNEL, Acknowledged(published[0])))

    assert replay_ids(batch) == published[1:]


async def test_an_empty_batch_says_the_subscriber_has_caught_up(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    published = salesforce.publish_event({"OrderId__c": "8015g0000000001"})
    batches = transport.batches(CHANNEL, lambda: REPLAY_ALL)

    assert replay_ids(await next_batch(batches)) == [published]
    assert await next_batch(batches) == []


async def test_handshake_sets_the_session_cookie_later_messages_need(
    vendors: LocalVendors, salesforce: SalesforceEmulatorControl, auth: SalesforceAuth
) -> None:
    token = await asyncio.to_thread(auth.token)
    url = f"{token.instance_url}/cometd/{vendors.salesforce_settings.api_version}"
    headers = {"Authorization": f"Bearer {token.access_token}"}
    verify = ssl.create_default_context(cafile=str(vendors.salesforce_settings.ca_bundle))
    async with (
        httpx.AsyncClient(verify=verify, headers=headers) as browser,
        httpx.AsyncClient(verify=verify, headers=headers) as without_cookie,
        httpx.AsyncClient(
            verify=verify, headers=headers, cookies={"BAYEUX_BROWSER": "another-browser"}
        ) as other_cookie,
    ):
        handshake = (await browser.post(url, json=[HANDSHAKE])).json()
        client_id = handshake[0]["clientId"]
        connect = {
            "channel": "/meta/connect",
            "clientId": client_id,
            "connectionType": "long-polling",
        }

        refusals = [
            (await client.post(url, json=[connect])).json()
            for client in (without_cookie, other_cookie)
        ]
        accepted = (await browser.post(url, json=[connect])).json()

    assert handshake == [
        {
            "channel": "/meta/handshake",
            "clientId": client_id,
            "successful": True,
            "version": "1.0",
            "minimumVersion": "1.0",
            "supportedConnectionTypes": ["long-polling"],
            "advice": {"interval": 0, "timeout": int(HOLD_SECONDS * 1000), "reconnect": "retry"},
            "ext": {"replay": True, "payload.format": True},
            "id": "1",
        }
    ]
    assert "BAYEUX_BROWSER" in browser.cookies
    unknown_client = {
        "channel": "/meta/connect",
        "successful": False,
        "error": "403::Unknown client",
        "advice": {"reconnect": "handshake", "interval": 0},
    }
    assert refusals == [[unknown_client], [unknown_client]]
    assert accepted[-1]["successful"] is True


async def test_handshake_with_an_invalid_token_is_denied_as_salesforce_does(
    vendors: LocalVendors, salesforce: SalesforceEmulatorControl
) -> None:
    settings = vendors.salesforce_settings
    verify = ssl.create_default_context(cafile=str(settings.ca_bundle))
    async with httpx.AsyncClient(verify=verify) as client:
        response = await client.post(
            f"{settings.login_url}/cometd/{settings.api_version}",
            json=[HANDSHAKE],
            headers={"Authorization": "Bearer 00D-not-a-session"},
        )

    reply = response.json()[0]
    assert reply["successful"] is False
    assert reply["error"] == "403::Handshake denied"
    assert reply["ext"]["sfdc"] == {"failureReason": "401::Authentication invalid"}
    assert reply["advice"] == {"reconnect": "none"}


async def test_a_dropped_client_resumes_from_the_acknowledged_replay_id(
    salesforce: SalesforceEmulatorControl,
    transport: CometdTransport,
    auth: SalesforceAuth,
    json_log: io.StringIO,
) -> None:
    first, second = (salesforce.publish_event({"OrderId__c": "8015g0000000001"}) for _ in "12")
    acknowledged = Acknowledged(REPLAY_ALL)
    batches = transport.batches(CHANNEL, acknowledged)
    assert replay_ids(await next_batch(batches)) == [first, second]
    acknowledged.replay_id = first

    salesforce.drop_cometd_clients()
    third = salesforce.publish_event({"OrderId__c": "8015g0000000003"})

    assert replay_ids(await next_batch(batches)) == [second, third]
    assert salesforce.call_counts()["handshake"] == 2
    assert len(log_lines(json_log, CLIENT_FORGOTTEN)) == 1
    assert auth.token().access_token not in json_log.getvalue()


async def test_an_expired_session_is_renewed_without_losing_events(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    first = salesforce.publish_event({"OrderId__c": "8015g0000000001"})
    acknowledged = Acknowledged(REPLAY_ALL)
    batches = transport.batches(CHANNEL, acknowledged)
    assert replay_ids(await next_batch(batches)) == [first]
    acknowledged.replay_id = first

    salesforce.expire_sessions()
    second = salesforce.publish_event({"OrderId__c": "8015g0000000002"})

    assert replay_ids(await next_batch(batches)) == [second]
    assert salesforce.call_counts()["token"] == 2


async def test_a_handshake_denied_for_an_expired_session_logs_in_again(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport, auth: SalesforceAuth
) -> None:
    await asyncio.to_thread(auth.token)
    salesforce.expire_sessions()
    published = salesforce.publish_event({"OrderId__c": "8015g0000000001"})

    batch = await next_batch(transport.batches(CHANNEL, lambda: REPLAY_ALL))

    assert replay_ids(batch) == [published]
    assert salesforce.call_counts()["handshake"] == 2


async def test_a_replay_id_past_retention_raises_the_salesforce_error(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    expired = salesforce.publish_event({"OrderId__c": "8015g0000000001"})
    salesforce.advance_clock(hours=71)
    retained = salesforce.publish_event({"OrderId__c": "8015g0000000002"})
    salesforce.advance_clock(hours=2)

    with pytest.raises(InvalidReplayIdError) as raised:
        await next_batch(transport.batches(CHANNEL, lambda: expired))

    assert raised.value.replay_id == expired
    assert str(raised.value) == invalid_replay_id_error(expired)
    assert [event["data"]["event"]["replayId"] for event in salesforce.list_events()] == [retained]


async def test_approving_an_order_sets_it_activating_and_publishes_the_event(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    account = salesforce.create_record("Account", {"Name": "Yamada Taro"})
    order = salesforce.create_record(
        "Order", {"AccountId": account["Id"], "Activation_Status__c": "Failed"}
    )

    replay_id = salesforce.approve_order(order["Id"], idem_key="approval-1")

    assert salesforce.get_record("Order", order["Id"])["Activation_Status__c"] == "Activating"
    [event] = await next_batch(transport.batches(CHANNEL, lambda: REPLAY_ALL))
    assert event.replay_id == replay_id
    assert event.payload["OrderId__c"] == order["Id"]
    assert event.payload["IdemKey__c"] == "approval-1"


async def test_a_slow_connect_still_delivers(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    batches = transport.batches(CHANNEL, lambda: REPLAY_NEW)
    assert await next_batch(batches) == []
    salesforce.inject(Fault(target="connect", kind=FaultKind.LATENCY, seconds=0.5))

    published = salesforce.publish_event({"OrderId__c": "8015g0000000001"})

    assert replay_ids(await next_batch(batches)) == [published]
    assert salesforce.call_counts()["handshake"] == 1


async def test_an_unavailable_server_is_retried_from_the_acknowledged_replay_id(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    first = salesforce.publish_event({"OrderId__c": "8015g0000000001"})
    acknowledged = Acknowledged(REPLAY_ALL)
    batches = transport.batches(CHANNEL, acknowledged)
    assert replay_ids(await next_batch(batches)) == [first]
    acknowledged.replay_id = first
    salesforce.inject(Fault(target="connect", kind=FaultKind.HTTP_503))

    second = salesforce.publish_event({"OrderId__c": "8015g0000000002"})

    assert replay_ids(await next_batch(batches)) == [second]
    assert salesforce.call_counts()["handshake"] == 2


async def test_subscribing_to_an_unknown_channel_fails(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    with pytest.raises(StreamingError, match="does not exist /event/Unknown__e"):
        await next_batch(transport.batches("/event/Unknown__e", lambda: REPLAY_NEW))


@pytest.mark.parametrize(
    ("seconds_away", "handshakes"),
    [
        pytest.param(RECONNECT_DEADLINE_SECONDS - 1, 1, id="back-within-40s-keeps-its-session"),
        pytest.param(RECONNECT_DEADLINE_SECONDS + 1, 2, id="back-after-40s-handshakes-again"),
    ],
)
async def test_a_client_back_after_the_reconnect_deadline_resumes_from_the_acknowledged_id(
    salesforce: SalesforceEmulatorControl,
    transport: CometdTransport,
    json_log: io.StringIO,
    seconds_away: int,
    handshakes: int,
) -> None:
    """Salesforce forgets a client that does not reconnect within 40 s of a delivery (the
    consumer was slow to hand the batch over): `403::Unknown client`, then a new handshake
    and a subscription from the acknowledged id. Within 40 s the session simply goes on."""
    first = salesforce.publish_event({"OrderId__c": "8015g0000000001"})
    acknowledged = Acknowledged(REPLAY_ALL)
    batches = transport.batches(CHANNEL, acknowledged)
    assert replay_ids(await next_batch(batches)) == [first]
    acknowledged.replay_id = first

    # The consumer takes its time with the batch: no CometD request meanwhile.
    salesforce.advance_clock(seconds=seconds_away)
    later = [salesforce.publish_event({"OrderId__c": "8015g0000000002"}) for _ in "23"]

    assert replay_ids(await next_batch(batches)) == later
    assert salesforce.call_counts()["handshake"] == handshakes
    assert len(log_lines(json_log, CLIENT_FORGOTTEN)) == handshakes - 1


async def test_an_invalid_replay_id_reported_on_connect_raises_and_replaying_all_recovers(
    salesforce: SalesforceEmulatorControl, transport: CometdTransport
) -> None:
    """A subscription continues from the last event delivered; once Salesforce has purged
    that event (72 h) while the client kept polling, the next /meta/connect is refused with
    the invalid-replay-id error, as a subscription would be. Replaying every retained event
    (-2), the caller's fallback, then hands over each later event once, in order."""
    salesforce.set_connect_hold(SALESFORCE_HOLD_SECONDS)
    first = salesforce.publish_event({"OrderId__c": "8015g0000000001"})
    batches = transport.batches(CHANNEL, lambda: REPLAY_ALL)
    assert replay_ids(await next_batch(batches)) == [first]
    polling = asyncio.ensure_future(anext(batches))
    await wait_until(
        lambda: any(
            client["waiting"] and client["positions"] == {CHANNEL: first}
            for client in salesforce.cometd_clients()
        ),
        "Salesforce holds the client's /meta/connect",
    )

    salesforce.advance_clock(hours=73)
    later = [salesforce.publish_event({"OrderId__c": "8015g0000000002"}) for _ in "23"]

    with pytest.raises(InvalidReplayIdError) as raised:
        async with asyncio.timeout(BATCH_TIMEOUT_SECONDS):
            await polling
    assert raised.value.replay_id == first
    assert str(raised.value) == invalid_replay_id_error(first)
    assert salesforce.call_counts()["handshake"] == 1
    assert replay_ids(await next_batch(transport.batches(CHANNEL, lambda: REPLAY_ALL))) == later
