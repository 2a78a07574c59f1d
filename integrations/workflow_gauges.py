"""Gauges of work waiting for a person, read from Temporal's visibility at each scrape of the
worker's `/metrics` (what the worker's own counters cannot know: a workflow waits for days
while workers restart).

- `portal_orders_failed_waiting`: ProvisionOrder runs marked Failed in Salesforce and waiting
  for a manual retry; `portal_orders_failed_waiting_oldest_age_seconds`: how long ago the
  oldest of them started (0 when none).
- `portal_credential_rotations_running` and `portal_credential_rotation_oldest_age_seconds`:
  RotateCredential runs; one older than its reminder interval is waiting for a person.

Nothing is exported when Temporal does not answer (the scrape still succeeds; one warning
until it answers again).
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


class WorkflowGauges:
    """The gauges of one process; Temporal's visibility not answering is logged once, until
    it answers again."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._unanswered = False

    async def exposition(self, now: datetime) -> bytes:
        try:
            async with asyncio.timeout(VISIBILITY_TIMEOUT_SECONDS):
                failed = await _count_and_oldest_age(self._client, FAILED_ORDERS, now)
                rotations = await _count_and_oldest_age(self._client, RUNNING_ROTATIONS, now)
        except (RPCError, RuntimeError, TimeoutError) as error:  # RuntimeError: a failed connect
            if not self._unanswered:
                log.warning(
                    "Workflow gauges left out of /metrics until Temporal's visibility answers",
                    error=str(error) or type(error).__name__,
                )
            self._unanswered = True
            return b""
        self._unanswered = False
        return _exposition(failed, rotations)


def _exposition(failed: tuple[int, float], rotations: tuple[int, float]) -> bytes:
    registry = CollectorRegistry()
    gauges = {
        "portal_orders_failed_waiting": (
            "ProvisionOrder runs marked Failed and waiting for a manual retry.",
            failed[0],
        ),
        "portal_orders_failed_waiting_oldest_age_seconds": (
            "Age of the oldest of them (since its workflow started); 0 when none.",
            failed[1],
        ),
        "portal_credential_rotations_running": ("Credential rotations running.", rotations[0]),
        "portal_credential_rotation_oldest_age_seconds": (
            "Age of the oldest running credential rotation; 0 when none.",
            rotations[1],
        ),
    }
    for name, (description, value) in gauges.items():
        Gauge(name, description, registry=registry).set(value)
    return generate_latest(registry)
