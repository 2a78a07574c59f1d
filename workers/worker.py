"""The worker: every workflow and activity, on the base task queue and one queue per vendor."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.call_records import CallRecordsActivities
from activities.error_mapping import IntegrationErrorInterceptor
from activities.freebit import FreebitActivities
from activities.mapping import MappingActivities
from activities.salesforce import SalesforceActivities
from activities.whmcs import WhmcsActivities
from integrations.config import (
    DatabaseSettings,
    FreebitSettings,
    RedisSettings,
    SalesforceSettings,
    SftpSettings,
    WhmcsSettings,
    load,
)
from integrations.database import apply_migrations, open_pool
from integrations.freebit.client import FreebitClient
from integrations.freebit.token_cache import FreebitTokenCache
from integrations.id_mappings import IdMappings
from integrations.operation_journal import OperationJournal
from integrations.redis_connection import redis_client
from integrations.salesforce.client import SalesforceClient
from integrations.whmcs.client import WhmcsClient
from workflows.import_call_records import ImportCallRecords
from workflows.provision_order import ProvisionOrder
from workflows.sim_account import SimAccount
from workflows.task_queues import TaskQueues

log = structlog.get_logger(__name__)

# Third-party packages the workflows reach only through their models' modules: loaded once,
# outside the sandbox, instead of being re-imported into every workflow run (which is slow
# and raced with imports made by activity threads).
SANDBOX_PASSTHROUGH = (
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "httpx",
    "redis",
    "requests",
    "simple_salesforce",
    "psycopg",
    "psycopg_pool",
    "structlog",
    "cryptography",
    "jwt",
    "opentelemetry",
    "paramiko",
)
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
)

SALESFORCE_THREADS = 16
"""simple-salesforce is synchronous: its activities run in this many threads."""
SFTP_IMPORTS = 2
"""paramiko is synchronous too: at most this many call-record files load at once."""


@dataclass(frozen=True)
class IntegrationSettings:
    salesforce: SalesforceSettings
    whmcs: WhmcsSettings
    freebit: FreebitSettings
    database: DatabaseSettings
    redis: RedisSettings
    sftp: SftpSettings | None = None
    """None: no SFTP host configured (SFTP_HOST unset); call-record imports then fail."""

    @classmethod
    def from_environment(cls) -> IntegrationSettings:
        return cls(
            salesforce=load(SalesforceSettings),
            whmcs=load(WhmcsSettings),
            freebit=load(FreebitSettings),
            database=load(DatabaseSettings),
            redis=load(RedisSettings),
            sftp=load(SftpSettings) if os.environ.get("SFTP_HOST") else None,
        )


@dataclass(frozen=True)
class Integrations:
    """The clients the activities use, opened once per worker process."""

    salesforce: SalesforceClient
    whmcs: WhmcsClient
    whmcs_payment_method: str
    freebit: FreebitClient
    id_mappings: IdMappings
    operation_journal: OperationJournal
    call_records: CallRecordsActivities


@asynccontextmanager
async def open_integrations(settings: IntegrationSettings) -> AsyncIterator[Integrations]:
    async with AsyncExitStack() as stack:
        pool = await open_pool(settings.database)
        stack.push_async_callback(pool.close)
        async with pool.connection() as connection:
            await apply_migrations(connection)
        redis = redis_client(settings.redis.url)
        stack.push_async_callback(redis.aclose)
        salesforce = SalesforceClient(settings.salesforce)
        stack.callback(salesforce.close)
        whmcs = WhmcsClient(settings.whmcs)
        stack.push_async_callback(whmcs.aclose)
        freebit = FreebitClient(
            settings.freebit, FreebitTokenCache(redis, settings.freebit.token_ttl)
        )
        stack.push_async_callback(freebit.aclose)
        yield Integrations(
            salesforce=salesforce,
            whmcs=whmcs,
            whmcs_payment_method=settings.whmcs.payment_method,
            freebit=freebit,
            id_mappings=IdMappings(pool),
            operation_journal=OperationJournal(pool),
            call_records=CallRecordsActivities(settings.sftp, settings.database),
        )


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
    freebit = FreebitActivities(integrations.freebit, integrations.operation_journal)
    return [
        Worker(
            client,
            task_queue=queues.portal,
            workflows=[ProvisionOrder, SimAccount, ImportCallRecords],
            workflow_runner=WORKFLOW_RUNNER,
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
        Worker(
            client,
            task_queue=queues.freebit,
            activities=[
                freebit.change_plan,
                freebit.add_quota,
                freebit.change_network_type,
                freebit.change_voice_options,
                freebit.cancel_account,
            ],
            interceptors=interceptors,
        ),
        Worker(
            client,
            task_queue=queues.sftp,
            activities=[integrations.call_records.import_file],
            activity_executor=executor,
            max_concurrent_activities=SFTP_IMPORTS,
            interceptors=interceptors,
        ),
    ]


@asynccontextmanager
async def running_workers(
    client: Client, task_queue: str, integrations: Integrations
) -> AsyncIterator[list[Worker]]:
    """Run the workers in the background for the duration of the block (tests, the demo)."""
    with ThreadPoolExecutor(
        SALESFORCE_THREADS + SFTP_IMPORTS, thread_name_prefix="activity"
    ) as executor:
        async with AsyncExitStack() as stack:
            workers = create_workers(client, task_queue, integrations, executor)
            for worker in workers:
                await stack.enter_async_context(worker)
            yield workers


async def run_until_cancelled(client: Client, task_queue: str, integrations: Integrations) -> None:
    async with running_workers(client, task_queue, integrations):
        log.info("Worker started", task_queue=task_queue, namespace=client.namespace)
        await asyncio.Event().wait()
