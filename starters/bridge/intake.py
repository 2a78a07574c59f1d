"""What the bridge does with one Platform Event: start (or signal) `ProvisionOrder` for the
order it names, and say how that went."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import structlog
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from contracts.provisioning import provision_workflow_id
from integrations.salesforce.models import is_record_id
from integrations.salesforce.streaming import PlatformEvent
from starters.provisioning import request_provisioning

log = structlog.get_logger(__name__)


class IntakeOutcome(StrEnum):
    STARTED = "started"
    ALREADY_RUNNING = "already running"
    ALREADY_DONE = "already done"
    SKIPPED_BAD_EVENT = "skipped bad event"


def _created_at(event: PlatformEvent) -> datetime | None:
    created = event.payload.get("CreatedDate")
    if not isinstance(created, str):
        return None
    try:
        return datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None


def _order_id(event: PlatformEvent) -> str | None:
    order_id = event.payload.get("OrderId__c")
    return order_id if isinstance(order_id, str) and is_record_id(order_id) else None


def event_key(event: PlatformEvent) -> str:
    """Identifies one event across replays, so a workflow can ignore one it already handled."""
    return event.event_uuid or f"{event.channel}:{event.replay_id}"


class ProvisionIntake:
    def __init__(self, client: Client, *, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def submit(self, event: PlatformEvent) -> IntakeOutcome:
        """Hand the event to Temporal; returns once Temporal has acknowledged it.

        A workflow that finished after the event was created has already handled it; any
        other event (re)starts or signals the workflow, whose id makes that idempotent.
        """
        order_id = _order_id(event)
        if order_id is None:
            log.warning(
                "Skipping Platform Event without a valid OrderId__c",
                channel=event.channel,
                replay_id=event.replay_id,
                order_id_value=repr(event.payload.get("OrderId__c")),
            )
            return IntakeOutcome.SKIPPED_BAD_EVENT
        status, closed_at = await self._current_workflow(order_id)
        created_at = _created_at(event)
        if closed_at is not None and created_at is not None and closed_at >= created_at:
            log.info("Platform Event already handled", order_id=order_id, replay_id=event.replay_id)
            return IntakeOutcome.ALREADY_DONE
        idem_key = event.payload.get("IdemKey__c")
        await request_provisioning(
            self._client,
            order_id,
            task_queue=self._task_queue,
            event_id=event_key(event),
            idem_key=idem_key if isinstance(idem_key, str) else None,
        )
        outcome = (
            IntakeOutcome.ALREADY_RUNNING
            if status == WorkflowExecutionStatus.RUNNING
            else IntakeOutcome.STARTED
        )
        log.info(
            "Platform Event enqueued for provisioning",
            order_id=order_id,
            replay_id=event.replay_id,
            outcome=outcome.value,
        )
        return outcome

    async def _current_workflow(
        self, order_id: str
    ) -> tuple[WorkflowExecutionStatus | None, datetime | None]:
        handle = self._client.get_workflow_handle(provision_workflow_id(order_id))
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None, None
            raise
        return description.status, description.close_time
