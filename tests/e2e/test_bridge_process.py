"""`portalctl bridge` as the operator runs it (a child process with its environment), against
Redis holding something under the replay id key that is no replay id: one error line naming the
key and what is wrong, no traceback, then every retained event (-2) and on as usual."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import provision_workflow_id
from emulators.salesforce import ORDER_PROVISION_CHANNEL
from integrations.config import DatabaseSettings
from integrations.replay_store import replay_key
from starters.demo.local_vendors import LocalVendors
from starters.demo.portal_processes import BRIDGE_READY, PortalProcess
from starters.demo.redis_server import running_redis_server
from tests.support.polling import wait_until
from tests.support.process_environment import portal_environment
from tests.support.provisioning import unapproved_order
from tests.support.replay_ids import stored_event_number
from workers.dependencies import Integrations

REPLAY_KEY = replay_key(ORDER_PROVISION_CHANNEL)
BINARY_VALUE = b"\xac\xed\x00\x05sr\x00"
"""What a Java program serialising a Long by mistake would leave there."""
CONNECT_HOLD_SECONDS = 0.5


def json_lines(log_path: Path) -> list[dict[str, Any]]:
    lines = log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


async def test_portalctl_bridge_survives_a_binary_replay_id_with_one_line_and_misses_nothing(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
    tmp_path: Path,
) -> None:
    vendors.salesforce.set_connect_hold(CONNECT_HOLD_SECONDS)
    order = await unapproved_order(vendors, integrations)
    missed = vendors.salesforce.approve_order(order.order_id)  # while no bridge listened
    with running_redis_server(tmp_path) as redis_server:
        async with Redis.from_url(redis_server.url) as redis:
            await redis.set(REPLAY_KEY, BINARY_VALUE)
            environment = {
                **portal_environment(dev_env, task_queue, vendors, database, redis_server.url),
                "SF_EVENTS_ENABLED": "true",
                "SF_EVENTS_REPLAY": "LATEST",
            }
            bridge = PortalProcess("bridge", environment, tmp_path / "bridge.log", BRIDGE_READY)
            try:
                bridge.start()

                async def missed_event_stored() -> bool:
                    stored = await redis.get(REPLAY_KEY)
                    try:
                        return stored is not None and stored_event_number(stored) == missed
                    except ValueError:  # still the binary value
                        return False

                await wait_until(missed_event_stored, "the bridge hands over the missed event")
                log_text = bridge.log_path.read_text(errors="replace")
            finally:
                bridge.stop()

    errors = [line for line in json_lines(bridge.log_path) if line["level"] == "error"]
    assert [(line["event"], line["key"], line["problem"]) for line in errors] == [
        (
            "Stored replay id unusable: replaying all retained events (-2); events already"
            " handled are recognised by their workflow id",
            REPLAY_KEY,
            r"is binary data, not text (b'\xac\xed\x00\x05sr\x00')",
        )
    ]
    assert "Traceback" not in log_text
    assert bridge.starts == 1
    description = await dev_env.client.get_workflow_handle(
        provision_workflow_id(order.order_id)
    ).describe()
    assert description.task_queue == task_queue
