"""Payload encryption on the real dev server: what Temporal stores is ciphertext, the workers
and clients holding the key read it, search attributes stay searchable (never encrypted)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from google.protobuf.message import Message
from pydantic import SecretBytes
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import ProvisionOutcome, provision_workflow_id
from integrations.config import PayloadEncryptionSettings
from integrations.payload_codec import ENCODING, KEY_ID_METADATA
from integrations.temporal import connect
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import create_sample_order
from starters.provisioning import request_provisioning
from tests.support.temporal import deployment_for
from workers.dependencies import Integrations
from workers.worker import running_workers

KEY_ID = "2026-11"
MARKER_RESULT = "result"
"""Markers (patches, local activities) also carry the SDK's own bookkeeping as plain JSON
(patch id, activity type, attempt, times); the local activity's result is the payload."""


async def encrypting_client(env: WorkflowEnvironment) -> Client:
    server = {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": env.client.namespace,
    }
    keys = {KEY_ID: SecretBytes(os.urandom(32))}
    return await connect(PayloadEncryptionSettings(key_id=KEY_ID, keys=keys), server)


def stored_payloads(message: Message) -> Iterator[Payload]:
    """Every Payload in a history message, except search attributes (which are indexed)."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = list(value.values())
        else:
            values = [value] if isinstance(value, Message) else list(value)
        for item in values:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message) and not isinstance(item, SearchAttributes):
                yield from stored_payloads(item)


def application_payloads(event: HistoryEvent) -> Iterator[Payload]:
    if event.HasField("marker_recorded_event_attributes"):
        details = event.marker_recorded_event_attributes.details
        yield from details[MARKER_RESULT].payloads if MARKER_RESULT in details else []
    else:
        yield from stored_payloads(event)


async def test_history_holds_only_ciphertext_yet_the_order_is_provisioned(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    client = await encrypting_client(dev_env)
    order = await create_sample_order(vendors, integrations.id_mappings)

    async with running_workers(client, task_queue, integrations, deployment_for(task_queue)):
        handle = await request_provisioning(client, order.order_id, task_queue=task_queue)
        result = await handle.result()

    history = await dev_env.client.get_workflow_handle(
        provision_workflow_id(order.order_id)
    ).fetch_history()
    payloads = [payload for event in history.events for payload in application_payloads(event)]
    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert len(payloads) > 10
    assert {payload.metadata["encoding"] for payload in payloads} == {ENCODING}
    assert {payload.metadata[KEY_ID_METADATA] for payload in payloads} == {KEY_ID.encode()}
    assert not [payload for payload in payloads if order.order_id.encode() in payload.data]
    searched = [
        execution
        async for execution in dev_env.client.list_workflows(f'OrderId = "{order.order_id}"')
    ]
    assert [execution.id for execution in searched] == [provision_workflow_id(order.order_id)]
