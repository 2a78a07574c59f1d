"""Retrying many Failed orders: one `request_retry` update per order, paced, each answered.

Every retry of one bulk run carries the same event id (the batch's, see
`integrations.order_retry_batches`). A `ProvisionOrder` takes an event id once and answers a
repeat "Event already handled", so however often a batch is interrupted and continued, an
order is retried by it at most once, also when it failed again in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from contracts.provisioning import RetryAnswer, RetryRequest, provision_workflow_id
from workflows.provision_order import ALREADY_IN_PROGRESS, EVENT_ALREADY_HANDLED, ProvisionOrder

MAX_IN_FLIGHT = 20
ANSWER_TIMEOUT = timedelta(seconds=30)
"""An order's workflow answers within a workflow task; longer means no worker is polling."""


class RetryOutcome(StrEnum):
    ACCEPTED = "accepted"
    ALREADY_RETRIED = "already retried"
    """This batch retried it before (a run that was interrupted): not retried again."""
    IN_PROGRESS = "already in progress"
    NOT_WAITING = "not waiting"
    """Its workflow has finished (Activated, Skipped, or its manual retry wait ran out)."""
    ERROR = "error"


@dataclass(frozen=True)
class OrderRetry:
    order_id: str
    outcome: RetryOutcome
    message: str


async def retry_orders(
    client: Client,
    order_ids: Sequence[str],
    *,
    event_id: str,
    reason: str,
    rate: float,
    on_answer: Callable[[OrderRetry], None],
) -> list[OrderRetry]:
    """At most `rate` updates per second and `MAX_IN_FLIGHT` unanswered; in list order."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    answers: list[OrderRetry] = []

    async def retry_one(order_id: str) -> None:
        try:
            answer = await retry_order(client, order_id, event_id=event_id, reason=reason)
        finally:
            in_flight.release()
        answers.append(answer)
        on_answer(answer)

    async with asyncio.TaskGroup() as tasks:
        for position, order_id in enumerate(order_ids):
            await asyncio.sleep(max(0.0, started + position / rate - loop.time()))
            await in_flight.acquire()
            tasks.create_task(retry_one(order_id))
    return answers


async def retry_order(client: Client, order_id: str, *, event_id: str, reason: str) -> OrderRetry:
    handle = client.get_workflow_handle_for(ProvisionOrder.run, provision_workflow_id(order_id))
    try:
        answer = await handle.execute_update(
            ProvisionOrder.request_retry,
            RetryRequest(event_id=event_id, reason=reason),
            rpc_timeout=ANSWER_TIMEOUT,
        )
    except WorkflowUpdateFailedError as error:
        return OrderRetry(order_id, RetryOutcome.ERROR, f"retry refused: {error.cause or error}")
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return OrderRetry(order_id, RetryOutcome.ERROR, "no answer in time: run again")
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return OrderRetry(order_id, RetryOutcome.NOT_WAITING, "provisioning has finished")
        return OrderRetry(order_id, RetryOutcome.ERROR, f"{error.status.name}: {error.message}")
    return OrderRetry(order_id, _outcome_of(answer), answer.message)


def _outcome_of(answer: RetryAnswer) -> RetryOutcome:
    if answer.accepted:
        return RetryOutcome.ACCEPTED
    if answer.message == EVENT_ALREADY_HANDLED:
        return RetryOutcome.ALREADY_RETRIED
    if answer.message == ALREADY_IN_PROGRESS:
        return RetryOutcome.IN_PROGRESS
    return RetryOutcome.NOT_WAITING
