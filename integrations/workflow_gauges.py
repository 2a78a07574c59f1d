"""Gauges of work waiting for a person, read from Temporal's visibility at each scrape of the
worker's `/metrics` (what the worker's own counters cannot know: a workflow waits for days
while workers restart).

- `portal_orders_failed_waiting`: ProvisionOrder runs marked Failed in Salesforce and waiting
  for a manual retry; `portal_orders_failed_waiting_oldest_age_seconds`: how long ago the
  oldest of them started (0 when none).
- `portal_credential_rotations_running` and `portal_credential_rotation_oldest_age_seconds`:
  RotateCredential runs; one older than its reminder interval is waiting for a person.

Nothing is exported when Temporal does not answer (the scrape still succeeds).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import generate_latest
from temporalio.client import Client
from temporalio.service import RPCError

log = structlog.get_logger(__name__)

FAILED_ORDERS = (
    'WorkflowType = "ProvisionOrder" AND ExecutionStatus = "Running" '
    'AND ActivationStatus = "Failed"'
)
RUNNING_ROTATIONS = 'WorkflowType = "RotateCredential" AND ExecutionStatus = "Running"'
LISTED_AT_MOST = 1000
"""Runs looked at for the oldest; beyond that many, the count alone is the alarm."""
VISIBILITY_TIMEOUT_SECONDS = 2.0


async def _count_and_oldest_age(client: Client, query: str, now: datetime) -> tuple[int, float]:
    count = (await client.count_workflows(query)).count
    started = [
        execution.start_time
        async for execution in client.list_workflows(query, limit=LISTED_AT_MOST)
    ]
    oldest_age = (now - min(started)).total_seconds() if started else 0.0
    return count, oldest_age


async def workflow_gauges_exposition(client: Client, now: datetime) -> bytes:
    try:
        async with asyncio.timeout(VISIBILITY_TIMEOUT_SECONDS):
            failed, failed_age = await _count_and_oldest_age(client, FAILED_ORDERS, now)
            rotations, rotation_age = await _count_and_oldest_age(client, RUNNING_ROTATIONS, now)
    except (RPCError, TimeoutError) as error:
        log.warning("Workflow gauges left out of /metrics: Temporal visibility", error=str(error))
        return b""
    registry = CollectorRegistry()
    gauges = {
        "portal_orders_failed_waiting": (
            "ProvisionOrder runs marked Failed and waiting for a manual retry.",
            failed,
        ),
        "portal_orders_failed_waiting_oldest_age_seconds": (
            "Age of the oldest of them (since its workflow started); 0 when none.",
            failed_age,
        ),
        "portal_credential_rotations_running": ("Credential rotations running.", rotations),
        "portal_credential_rotation_oldest_age_seconds": (
            "Age of the oldest running credential rotation; 0 when none.",
            rotation_age,
        ),
    }
    for name, (description, value) in gauges.items():
        Gauge(name, description, registry=registry).set(value)
    return generate_latest(registry)
