"""The intake dead-letter against real servers (the Temporal dev server, PostgreSQL, the
Salesforce emulator): every event the bridge cannot use is parked with its replay id,
payload, reason and time, once; PostgreSQL being away holds the replay id back instead of
losing the event; `portalctl events rejected` lists what was parked and `portalctl events
replay` delivers a retained range again through the intake, deduped.

The bridges here keep no replay id in Redis (like `portalctl order backfill`): their
acknowledged position is `bridge.position`, so they never touch the live bridge's key.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from contracts.provisioning import provision_workflow_id
from integrations.config import (
    DatabaseSettings,
    EventTransport,
)
from integrations.database import open_pool
from integrations.metrics import process_exposition
from integrations.rejected_events import RejectedEvents
from integrations.salesforce.streaming import PlatformEvent
from starters.bridge.event_bridge import EventBridge
from starters.bridge.intake import IntakeOutcome, ProvisionIntake
from starters.cli.app import app
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrder
from tests.conftest import TEST_REDIS_URL
from tests.support.background import running_in_background
from tests.support.bridges import positioned_bridge
from tests.support.polling import wait_until
from tests.support.process_environment import export, portal_environment
from tests.support.provisioning import unapproved_order
from tests.support.tcp_proxy import running_tcp_proxy
from workers.dependencies import Integrations

CONNECT_HOLD_SECONDS = 0.5
PARKING_RETRIED = "PostgreSQL did not take the rejected event; retrying, replay id not advanced"
NO_ORDER_ID = {"Unexpected__c": "no order id"}
BAD_ORDER_ID = {"OrderId__c": "not-an-id"}
SALESFORCE_FIELDS = {"CreatedDate", "CreatedById"}
ORDER_CHANNEL = "/event/OrderProvisionRequested__e"


@dataclass
class BridgeRun:
    bridge: EventBridge
    handled: list[int | bytes]


@pytest.fixture
def vendors(vendors: LocalVendors) -> LocalVendors:
    vendors.salesforce.set_connect_hold(CONNECT_HOLD_SECONDS)
    return vendors


@pytest.fixture
async def dead_letter(database: DatabaseSettings) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection to the test database, with no event parked before the test."""
    async with await psycopg.AsyncConnection.connect(database.url, autocommit=True) as connection:
        await connection.execute("TRUNCATE rejected_events")
        yield connection


async def parked_rows(connection: psycopg.AsyncConnection) -> list[tuple[str, bytes, str, str]]:
    """(transport, replay id, reason, payload) of every parked event, oldest first."""
    cursor = await connection.execute(
        "SELECT transport, replay_id, reason, convert_from(payload, 'UTF8')"
        " FROM rejected_events ORDER BY id"
    )
    return [(row[0], bytes(row[1]), row[2], row[3]) for row in await cursor.fetchall()]


def published_fields(payload: str) -> dict[str, str]:
    """The parked payload without the fields Salesforce adds to every event."""
    fields = json.loads(payload)
    return {name: value for name, value in fields.items() if name not in SALESFORCE_FIELDS}


@asynccontextmanager
async def running_bridge(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    database: DatabaseSettings,
    transport: EventTransport = EventTransport.COMETD,
) -> AsyncIterator[BridgeRun]:
    """A bridge replaying every retained event, then live, in the background (on CometD by
    default: the parked payloads are then the JSON the control API published)."""
    handled: list[int | bytes] = []
    async with (
        positioned_bridge(
            dev_env.client,
            task_queue=task_queue,
            vendors=vendors,
            database=database,
            transport=transport,
            on_event=lambda event, _outcome: handled.append(event.replay_id),
        ) as bridge,
        running_in_background(bridge.run()),
    ):
        yield BridgeRun(bridge, handled)


async def portalctl(*args: str) -> Result:
    """The command as an operator runs it (in a thread: it runs its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


def handled_metric(outcome: IntakeOutcome) -> float:
    """`portal_platform_events_handled_total` of this process for the outcome."""
    for line in process_exposition().decode().splitlines():
        if line.startswith("portal_platform_events_handled_total{") and (
            f'outcome="{outcome.value}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_unusable_events_are_parked_once_and_listed_by_portalctl(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
    dead_letter: psycopg.AsyncConnection,
    json_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order = await unapproved_order(vendors, integrations)
    rejected_before = handled_metric(IntakeOutcome.REJECTED)
    started_before = handled_metric(IntakeOutcome.STARTED)
    no_order_id = vendors.salesforce.publish_event(NO_ORDER_ID)
    bad_order_id = vendors.salesforce.publish_event(BAD_ORDER_ID)
    good = vendors.salesforce.approve_order(order.order_id)

    async with running_bridge(dev_env, task_queue, vendors, database) as live:
        await wait_until(lambda: good in live.handled, "the bridge hands over every event")
    async with running_bridge(dev_env, task_queue, vendors, database) as replayed:
        await wait_until(lambda: good in replayed.handled, "a second bridge replays them all")

    # Events of different orders are handed over concurrently: parked in either order.
    rows = sorted(await parked_rows(dead_letter), key=lambda row: int(row[1]))
    assert [row[:3] for row in rows] == [
        ("cometd", str(no_order_id).encode(), "no OrderId__c"),
        ("cometd", str(bad_order_id).encode(), "invalid OrderId__c 'not-an-id'"),
    ]
    assert [published_fields(row[3]) for row in rows] == [NO_ORDER_ID, BAD_ORDER_ID]
    assert live.bridge.counts == {IntakeOutcome.REJECTED: 2, IntakeOutcome.STARTED: 1}
    assert replayed.bridge.counts[IntakeOutcome.REJECTED] == 2
    assert handled_metric(IntakeOutcome.REJECTED) - rejected_before == 4
    assert handled_metric(IntakeOutcome.STARTED) - started_before == 1

    export(monkeypatch, {"DATABASE_URL": database.url, "REDIS_URL": TEST_REDIS_URL})
    listed = await portalctl("events", "rejected", "--since", "1h")
    as_json = await portalctl("events", "rejected", "--json")
    none_since = await portalctl("events", "rejected", "--since", "2999-01-01T00:00")

    assert listed.exit_code == 0, listed.output
    *event_lines, summary = listed.stdout.splitlines()
    listed_events = [re.search(r"replay id (\d+)  (.+?)  \{", line) for line in event_lines]
    assert sorted(match.groups() for match in listed_events if match) == [
        (str(no_order_id), "no OrderId__c"),
        (str(bad_order_id), "invalid OrderId__c 'not-an-id'"),
    ]
    assert summary == "2 rejected; deliver again: portalctl events replay --from REPLAY_ID"
    parked = sorted(
        (json.loads(line) for line in as_json.stdout.splitlines()),
        key=lambda event: int(event["replay_id"]),
    )
    assert [(event["replay_id"], published_fields(event["payload"])) for event in parked] == [
        (str(no_order_id), NO_ORDER_ID),
        (str(bad_order_id), BAD_ORDER_ID),
    ]
    assert none_since.stdout.strip() == "No rejected events since 2999-01-01T00:00"


async def test_a_rejected_event_waits_for_postgresql_without_the_replay_id_passing_it(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
    dead_letter: psycopg.AsyncConnection,
    json_log: io.StringIO,
) -> None:
    order = await unapproved_order(vendors, integrations)
    target = conninfo_to_dict(database.url)
    async with running_tcp_proxy(
        f"{target.get('host', '127.0.0.1')}:{target.get('port', 5432)}"
    ) as proxy:
        host, port = proxy.address.split(":")
        through_proxy = DatabaseSettings(
            DATABASE_URL=make_conninfo(database.url, host=host, port=port)
        )
        async with running_bridge(dev_env, task_queue, vendors, through_proxy) as live:
            await proxy.stop()
            bad = vendors.salesforce.publish_event(NO_ORDER_ID)
            good = vendors.salesforce.approve_order(order.order_id)
            await wait_until(
                lambda: PARKING_RETRIED in json_log.getvalue(), "parking fails and is retried"
            )
            held_at = live.bridge.position
            handled_while_down = list(live.handled)
            await proxy.start()
            await wait_until(lambda: good in live.handled, "the bridge goes on")

    assert bad not in handled_while_down
    assert held_at != bad
    assert live.handled[-2:] == [bad, good]
    assert [row[:3] for row in await parked_rows(dead_letter)] == [
        ("cometd", str(bad).encode(), "no OrderId__c")
    ]


async def run_count(client: Client, order: SampleOrder) -> int:
    """How many runs of the order's ProvisionOrder exist (0: none)."""
    workflow_id = provision_workflow_id(order.order_id)
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return 0
        raise
    return (await client.count_workflows(f"WorkflowId = '{workflow_id}'")).count


def outcome_lines(result: Result) -> dict[str, int]:
    counts = {}
    for line in result.stdout.splitlines():
        label, _, number = line.rpartition(":")
        if label.strip() in {outcome.value for outcome in IntakeOutcome}:
            counts[label.strip()] = int(number)
    return counts


async def test_portalctl_events_replay_delivers_a_range_again_through_the_intake_once(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
    dead_letter: psycopg.AsyncConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = [await unapproved_order(vendors, integrations) for _ in range(2)]
    vendors.salesforce.publish_event(BAD_ORDER_ID)  # before the range: never parked
    # No bridge listens: these events were missed.
    approved_first = vendors.salesforce.approve_order(first.order_id)
    bad = vendors.salesforce.publish_event(NO_ORDER_ID)
    vendors.salesforce.approve_order(second.order_id)
    export(
        monkeypatch,
        {
            **portal_environment(dev_env, task_queue, vendors, database, TEST_REDIS_URL),
            "SF_EVENTS_TRANSPORT": EventTransport.COMETD.value,  # whole-number replay ids
        },
    )

    up_to_bad = await portalctl("events", "replay", "--from", str(approved_first), "--to", str(bad))
    assert up_to_bad.exit_code == 0, up_to_bad.output
    runs_after_range = [await run_count(dev_env.client, order) for order in (first, second)]
    to_newest = await portalctl("events", "replay", "--from", str(approved_first))

    assert outcome_lines(up_to_bad) == {
        "started": 1,
        "already running": 0,
        "already done": 0,
        "rejected": 1,
    }
    assert runs_after_range == [1, 0]
    assert to_newest.exit_code == 0, to_newest.output
    assert outcome_lines(to_newest) == {
        "started": 1,
        "already running": 1,
        "already done": 0,
        "rejected": 1,
    }
    assert [await run_count(dev_env.client, order) for order in (first, second)] == [1, 1]
    assert [row[1] for row in await parked_rows(dead_letter)] == [str(bad).encode()]


async def test_the_pubsub_transport_parks_with_opaque_replay_ids_and_replays_them(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
    dead_letter: psycopg.AsyncConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order = await unapproved_order(vendors, integrations)
    vendors.salesforce.publish_event(NO_ORDER_ID)
    vendors.salesforce.publish_event(BAD_ORDER_ID)
    vendors.salesforce.approve_order(order.order_id)
    async with running_bridge(
        dev_env, task_queue, vendors, database, EventTransport.PUBSUB
    ) as live:
        await wait_until(lambda: len(live.handled) == 3, "the bridge hands over every event")
    export(
        monkeypatch,
        {
            **portal_environment(dev_env, task_queue, vendors, database, TEST_REDIS_URL),
            "SF_EVENTS_TRANSPORT": EventTransport.PUBSUB.value,
        },
    )
    no_order_id, bad_order_id, _approval = live.handled
    assert isinstance(no_order_id, bytes)
    assert isinstance(bad_order_id, bytes)

    listed = await portalctl("events", "rejected")
    replayed = await portalctl(
        "events", "replay", "--from", no_order_id.hex(), "--to", bad_order_id.hex()
    )

    assert sorted(row[:3] for row in await parked_rows(dead_letter)) == sorted(
        [
            ("pubsub", no_order_id, "no OrderId__c"),
            ("pubsub", bad_order_id, "invalid OrderId__c 'not-an-id'"),
        ]
    )
    assert f"replay id {no_order_id.hex()}  no OrderId__c" in listed.stdout
    assert replayed.exit_code == 0, replayed.output
    assert outcome_lines(replayed) == {
        "started": 0,
        "already running": 0,
        "already done": 0,
        "rejected": 2,
    }, replayed.output
    assert len(await parked_rows(dead_letter)) == 2


async def test_the_intake_parks_undecodable_payloads_and_payloads_json_cannot_hold(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    database: DatabaseSettings,
    dead_letter: psycopg.AsyncConnection,
) -> None:
    """What a transport hands over that no workflow can use: a payload it could not decode
    (with the bytes received), and a decoded Avro payload with bytes and a timestamp."""
    undecodable = PlatformEvent(
        channel=ORDER_CHANNEL,
        replay_id=b"\x00\x00\x00\x00\x00\x00\x00\x07",
        event_uuid="uuid-undecodable",
        payload={},
        decode_error="schema 8Bvz7 not found",
        raw_payload=b"\x02\xffnot avro",
    )
    odd_values = PlatformEvent(
        channel=ORDER_CHANNEL,
        replay_id=b"\x00\x00\x00\x00\x00\x00\x00\x08",
        event_uuid="uuid-odd-values",
        payload={
            "OrderId__c": None,
            "Blob__c": b"\x00\x01",
            "At__c": datetime(2026, 12, 1, tzinfo=UTC),
        },
    )
    pool = await open_pool(database)
    try:
        intake = ProvisionIntake(
            dev_env.client, task_queue=task_queue, rejected=RejectedEvents(pool)
        )
        outcomes = [await intake.submit(event) for event in (undecodable, odd_values)]
    finally:
        await pool.close()

    assert outcomes == [IntakeOutcome.REJECTED] * 2
    cursor = await dead_letter.execute(
        "SELECT transport, replay_id, reason, payload FROM rejected_events ORDER BY id"
    )
    rows = [(row[0], bytes(row[1]), row[2], bytes(row[3])) for row in await cursor.fetchall()]
    assert rows[0] == (
        "pubsub",
        undecodable.replay_id,
        "undecodable payload: schema 8Bvz7 not found",
        b"\x02\xffnot avro",
    )
    assert rows[1][:3] == ("pubsub", odd_values.replay_id, "no OrderId__c")
    assert json.loads(rows[1][3]) == {
        "OrderId__c": None,
        "Blob__c": str(b"\x00\x01"),
        "At__c": "2026-12-01 00:00:00+00:00",
    }
