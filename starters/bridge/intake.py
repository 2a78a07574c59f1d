"""What the bridge does with one Platform Event: start (or signal) `ProvisionOrder` for the
order it names, or park an event it cannot use in the dead-letter (`rejected_events`), and
say how that went."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts.provisioning import provision_workflow_id
from integrations.rejected_events import RejectedEvents
from integrations.salesforce.models import is_record_id
from integrations.salesforce.streaming import PlatformEvent
from starters.provisioning import request_provisioning

log = structlog.get_logger(__name__)


class IntakeOutcome(StrEnum):
    STARTED = "started"
    ALREADY_RUNNING = "already running"
    ALREADY_DONE = "already done"
    REJECTED = "rejected"
    """Parked in the dead-letter (`portalctl events rejected`)."""


def event_created_at(event: PlatformEvent) -> datetime | None:
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


def _rejection_reason(event: PlatformEvent) -> str:
    """Why an event without a decoded payload or a valid OrderId__c cannot be used."""
    if event.decode_error is not None:
        return f"undecodable payload: {event.decode_error}"
    value = event.payload.get("OrderId__c")
    return "no OrderId__c" if value is None else f"invalid OrderId__c {value!r}"


def event_key(event: PlatformEvent) -> str:
    """Identifies one event across replays, so a workflow can ignore one it already handled."""
    replay_id = event.replay_id
    shown = replay_id.hex() if isinstance(replay_id, bytes) else str(replay_id)
    return event.event_uuid or f"{event.channel}:{shown}"


@dataclass(frozen=True)
class _Run:
    """The latest run of an order's workflow, as described before the event is handed over."""

    run_id: str
    status: WorkflowExecutionStatus | None
    closed_at: datetime | None


class ProvisionIntake:
    def __init__(self, client: Client, *, task_queue: str, rejected: RejectedEvents) -> None:
        self._client = client
        self._task_queue = task_queue
        self._rejected = rejected

    async def submit(self, event: PlatformEvent) -> IntakeOutcome:
        """Hand the event to Temporal; returns once Temporal has acknowledged it.

        A workflow that finished after the event was created has already handled it; any
        other event (re)starts or signals the workflow, whose id makes that idempotent.

        Describing the workflow and then starting it are two calls, and a run may close in
        between. Unless the event is to start a closed run again, the start rejects a
        duplicate (REJECT_DUPLICATE): a run that closed meanwhile was running after the
        event was created, so it handled the event, and Temporal refuses a second run
        instead of starting one that would only find the order done.
        """
        order_id = _order_id(event)
        if order_id is None or event.decode_error is not None:
            return await self._park(event, _rejection_reason(event))
        seen = await self._latest_run(order_id)
        created_at = event_created_at(event)
        if seen is not None and seen.closed_at is not None:
            if created_at is not None and seen.closed_at >= created_at:
                log.info(
                    "Platform Event already handled", order_id=order_id, replay_id=event.replay_id
                )
                return IntakeOutcome.ALREADY_DONE
            reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
        else:
            reuse = WorkflowIDReusePolicy.REJECT_DUPLICATE
        idem_key = event.payload.get("IdemKey__c")
        try:
            handle = await request_provisioning(
                self._client,
                order_id,
                task_queue=self._task_queue,
                event_id=event_key(event),
                idem_key=idem_key if isinstance(idem_key, str) else None,
                id_reuse_policy=reuse,
            )
        except WorkflowAlreadyStartedError as closed:
            log.info(
                "Platform Event already handled",
                order_id=order_id,
                replay_id=event.replay_id,
                run_id=closed.run_id,
                reason="the run closed while the event was handed over",
            )
            return IntakeOutcome.ALREADY_DONE
        running = seen is not None and seen.status == WorkflowExecutionStatus.RUNNING
        outcome = IntakeOutcome.ALREADY_RUNNING if running else IntakeOutcome.STARTED
        log.info(
            "Platform Event enqueued for provisioning",
            order_id=order_id,
            replay_id=event.replay_id,
            outcome=outcome.value,
            run_id=handle.result_run_id,
        )
        return outcome

    async def _park(self, event: PlatformEvent, reason: str) -> IntakeOutcome:
        """Raises ParkingUnavailableError when PostgreSQL cannot take it."""
        # default=str: an Avro payload (Pub/Sub API) may hold bytes, decimals or timestamps.
        shown = json.dumps(event.payload, default=str).encode()
        payload = event.raw_payload if event.decode_error else shown
        parked_now = await self._rejected.park(
            channel=event.channel,
            replay_id=event.replay_id,
            event_uuid=event.event_uuid,
            payload=payload,
            reason=reason,
        )
        log.warning(
            "Platform Event rejected: parked in the dead-letter (portalctl events rejected)",
            channel=event.channel,
            replay_id=event.replay_id,
            reason=reason,
            parked_before=not parked_now,
        )
        return IntakeOutcome.REJECTED

    async def _latest_run(self, order_id: str) -> _Run | None:
        handle = self._client.get_workflow_handle(provision_workflow_id(order_id))
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return _Run(description.run_id, description.status, description.close_time)
