"""The worker: every workflow and activity, on the base task queue and one queue per vendor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from activities.error_mapping import IntegrationErrorInterceptor
from activities.mapping import MappingActivities
from activities.salesforce import SalesforceActivities
from activities.whmcs import WhmcsActivities
from integrations.config import DatabaseSettings, SalesforceSettings, WhmcsSettings
from integrations.database import apply_migrations, open_pool
from integrations.id_mappings import IdMappings
from integrations.salesforce.client import SalesforceClient
from integrations.whmcs.client import WhmcsClient
from workflows.provision_order import ProvisionOrder
from workflows.task_queues import TaskQueues

log = structlog.get_logger(__name__)

SALESFORCE_THREADS = 16
"""simple-salesforce is synchronous: its activities run in this many threads."""


@dataclass(frozen=True)
class Integrations:
    """The clients the activities use, opened once per worker process."""

    salesforce: SalesforceClient
    whmcs: WhmcsClient
    whmcs_payment_method: str
    id_mappings: IdMappings


@asynccontextmanager
async def open_integrations(
    salesforce: SalesforceSettings, whmcs: WhmcsSettings, database: DatabaseSettings
) -> AsyncIterator[Integrations]:
    pool = await open_pool(database)
    async with pool.connection() as connection:
        await apply_migrations(connection)
    salesforce_client = SalesforceClient(salesforce)
    whmcs_client = WhmcsClient(whmcs)
    try:
        yield Integrations(
            salesforce=salesforce_client,
            whmcs=whmcs_client,
            whmcs_payment_method=whmcs.payment_method,
            id_mappings=IdMappings(pool),
        )
    finally:
        await whmcs_client.aclose()
        salesforce_client.close()
        await pool.close()


def create_workers(
    client: Client, task_queue: str, integrations: Integrations, executor: ThreadPoolExecutor
) -> list[Worker]:
    # Temporal's adapters append the workflow/activity info to every message; structlog
    # already carries it as fields, and the seed's messages must stay greppable verbatim.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    queues = TaskQueues.for_base(task_queue)
    interceptors = [IntegrationErrorInterceptor()]
    salesforce = SalesforceActivities(integrations.salesforce)
    whmcs = WhmcsActivities(integrations.whmcs, integrations.whmcs_payment_method)
    mapping = MappingActivities(integrations.id_mappings)
    return [
        Worker(
            client,
            task_queue=queues.portal,
            workflows=[ProvisionOrder],
            activities=[mapping.map_order],
            interceptors=interceptors,
        ),
        Worker(
            client,
            task_queue=queues.salesforce,
            activities=[
                salesforce.load_order,
                salesforce.mark_order_activating,
                salesforce.mark_order_failed,
                salesforce.mark_order_activated,
            ],
            activity_executor=executor,
            max_concurrent_activities=SALESFORCE_THREADS,
            interceptors=interceptors,
        ),
        Worker(
            client,
            task_queue=queues.whmcs,
            activities=[whmcs.require_payment_method, whmcs.create_order, whmcs.accept_order],
            interceptors=interceptors,
        ),
    ]


@asynccontextmanager
async def running_workers(
    client: Client, task_queue: str, integrations: Integrations
) -> AsyncIterator[list[Worker]]:
    """Run the workers in the background for the duration of the block (tests, the demo)."""
    with ThreadPoolExecutor(SALESFORCE_THREADS, thread_name_prefix="salesforce") as executor:
        async with AsyncExitStack() as stack:
            workers = create_workers(client, task_queue, integrations, executor)
            for worker in workers:
                await stack.enter_async_context(worker)
            yield workers


async def run_until_cancelled(client: Client, task_queue: str, integrations: Integrations) -> None:
    async with running_workers(client, task_queue, integrations):
        log.info("Worker started", task_queue=task_queue, namespace=client.namespace)
        await asyncio.Event().wait()
