"""The worker: every workflow and activity, on the base task queue and one queue per vendor."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from redis.asyncio import Redis
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.call_records import CallRecordsActivities
from activities.credentials import CredentialActivities
from activities.error_mapping import IntegrationErrorInterceptor
from activities.freebit import FreebitActivities
from activities.health import HealthActivities
from activities.mapping import MappingActivities
from activities.metrics import ActivityMetricsInterceptor
from activities.salesforce import SalesforceActivities
from activities.whmcs import WhmcsActivities
from integrations.config import (
    DatabaseSettings,
    FreebitSettings,
    RedisSettings,
    SalesforceSettings,
    SecretsSettings,
    SftpSettings,
    TaskQueueRateLimitSettings,
    WhmcsSettings,
    load,
)
from integrations.database import apply_migrations, open_pool
from integrations.freebit.client import FreebitClient
from integrations.freebit.token_cache import FreebitTokenCache
from integrations.health.probes import HealthProbes
from integrations.id_mappings import IdMappings
from integrations.operation_journal import OperationJournal
from integrations.redis_connection import redis_client
from integrations.salesforce.client import SalesforceClient
from integrations.secrets.bootstrap import SeedCredentials, open_credentials
from integrations.secrets.kinds import CredentialKind
from integrations.secrets.provider import StoredCredential, StoredCredentials, source_for
from integrations.whmcs.client import WhmcsClient
from workflows.health_check import HealthCheck
from workflows.import_call_records import ImportCallRecords
from workflows.import_call_records_scheduled import ScheduledCallRecordsImport
from workflows.provision_order import ProvisionOrder
from workflows.rotate_credential import RotateCredential
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
SFTP_HEARTBEAT_THROTTLE = timedelta(seconds=2)
"""Import heartbeats carry the bytes read: `portalctl records import` shows them as a bar."""


@dataclass(frozen=True)
class IntegrationSettings:
    salesforce: SalesforceSettings
    whmcs: WhmcsSettings
    freebit: FreebitSettings
    database: DatabaseSettings
    redis: RedisSettings
    secrets: SecretsSettings
    sftp: SftpSettings | None = None
    """None: no SFTP host configured (SFTP_HOST unset); call-record imports then fail."""
    rate_limits: TaskQueueRateLimitSettings = field(
        default_factory=TaskQueueRateLimitSettings.model_construct
    )

    @classmethod
    def from_environment(cls) -> IntegrationSettings:
        return cls(
            salesforce=load(SalesforceSettings),
            whmcs=load(WhmcsSettings),
            freebit=load(FreebitSettings),
            database=load(DatabaseSettings),
            redis=load(RedisSettings),
            sftp=load(SftpSettings) if os.environ.get("SFTP_HOST") else None,
            rate_limits=load(TaskQueueRateLimitSettings),
            secrets=load(SecretsSettings),
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
    health: HealthActivities
    credentials: CredentialActivities
    rate_limits: TaskQueueRateLimitSettings = field(
        default_factory=TaskQueueRateLimitSettings.model_construct
    )


@dataclass(frozen=True)
class VendorClients:
    """The vendor clients of one process, reading their credentials from the secret store."""

    salesforce: SalesforceClient
    whmcs: WhmcsClient
    freebit: FreebitClient
    freebit_tokens: FreebitTokenCache
    sftp_key: StoredCredential | None

    def health_probes(self, settings: IntegrationSettings, redis: Redis) -> HealthProbes:
        return HealthProbes(
            salesforce=self.salesforce,
            whmcs=self.whmcs,
            freebit=self.freebit,
            redis=redis,
            database=settings.database,
            sftp_settings=settings.sftp,
            sftp_key=self.sftp_key,
        )


def open_vendor_clients(
    stack: AsyncExitStack,
    settings: IntegrationSettings,
    credentials: StoredCredentials | None,
    redis: Redis,
) -> VendorClients:
    """The clients, closed with `stack`; `credentials` None: those in the settings."""
    salesforce = SalesforceClient(
        settings.salesforce,
        private_key=source_for(credentials, CredentialKind.SALESFORCE_JWT),
    )
    stack.callback(salesforce.close)
    whmcs = WhmcsClient(
        settings.whmcs, credentials=source_for(credentials, CredentialKind.WHMCS_API)
    )
    stack.push_async_callback(whmcs.aclose)
    freebit_tokens = FreebitTokenCache(redis, settings.freebit.token_ttl)
    freebit = FreebitClient(
        settings.freebit,
        freebit_tokens,
        oem_key=source_for(credentials, CredentialKind.FREEBIT_OEM),
    )
    stack.push_async_callback(freebit.aclose)
    return VendorClients(
        salesforce=salesforce,
        whmcs=whmcs,
        freebit=freebit,
        freebit_tokens=freebit_tokens,
        sftp_key=source_for(credentials, CredentialKind.SFTP_SSH),
    )


@asynccontextmanager
async def open_integrations(settings: IntegrationSettings) -> AsyncIterator[Integrations]:
    async with AsyncExitStack() as stack:
        pool = await open_pool(settings.database)
        stack.push_async_callback(pool.close)
        async with pool.connection() as connection:
            await apply_migrations(connection)
        redis = redis_client(settings.redis.url)
        stack.push_async_callback(redis.aclose)
        credentials = await open_stored_credentials(settings)
        clients = open_vendor_clients(stack, settings, credentials, redis)
        yield Integrations(
            salesforce=clients.salesforce,
            whmcs=clients.whmcs,
            whmcs_payment_method=settings.whmcs.payment_method,
            freebit=clients.freebit,
            id_mappings=IdMappings(pool),
            operation_journal=OperationJournal(pool),
            call_records=CallRecordsActivities(settings.sftp, settings.database, clients.sftp_key),
            health=HealthActivities(clients.health_probes(settings, redis), pool),
            rate_limits=settings.rate_limits,
            credentials=CredentialActivities(
                credentials,
                salesforce=settings.salesforce,
                whmcs=settings.whmcs,
                freebit=clients.freebit,
                freebit_tokens=clients.freebit_tokens,
                sftp=settings.sftp,
            ),
        )


async def open_stored_credentials(settings: IntegrationSettings) -> StoredCredentials:
    """The secret store, bootstrapped from the settings' credentials on first start."""
    seeds = SeedCredentials(
        salesforce=settings.salesforce,
        whmcs=settings.whmcs,
        freebit=settings.freebit,
        sftp=settings.sftp,
    )
    return await open_credentials(settings.database, settings.secrets, seeds)


def create_workers(
    client: Client, task_queue: str, integrations: Integrations, executor: ThreadPoolExecutor
) -> list[Worker]:
    # Temporal's adapters append the workflow/activity info to every message; structlog
    # already carries it as fields, and the seed's messages must stay greppable verbatim.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    queues = TaskQueues.for_base(task_queue)
    interceptors = [IntegrationErrorInterceptor(), ActivityMetricsInterceptor()]
    health = integrations.health
    salesforce = SalesforceActivities(integrations.salesforce)
    whmcs = WhmcsActivities(integrations.whmcs, integrations.whmcs_payment_method)
    mapping = MappingActivities(integrations.id_mappings)
    freebit = FreebitActivities(integrations.freebit, integrations.operation_journal)
    rotation = integrations.credentials.activities_for

    def worker_for(queue: str, activities: list[Callable[..., Any]], **options: Any) -> Worker:
        """Every queue also runs the health check and rotation steps that reach its system."""
        return Worker(
            client,
            task_queue=getattr(queues, queue),
            activities=[*activities, health.check_integration, *rotation(queue)],
            interceptors=interceptors,
            **options,
        )

    return [
        worker_for(
            "portal",
            [mapping.map_order, health.record_health],
            workflows=[
                ProvisionOrder,
                SimAccount,
                ImportCallRecords,
                ScheduledCallRecordsImport,
                HealthCheck,
                RotateCredential,
            ],
            workflow_runner=WORKFLOW_RUNNER,
        ),
        worker_for(
            "salesforce",
            [
                salesforce.load_order,
                salesforce.mark_order_activating,
                salesforce.mark_order_failed,
                salesforce.mark_order_activated,
            ],
            activity_executor=executor,
            max_concurrent_activities=SALESFORCE_THREADS,
            max_task_queue_activities_per_second=integrations.rate_limits.salesforce,
        ),
        worker_for(
            "whmcs",
            [
                whmcs.require_payment_method,
                whmcs.create_payable_order,
                whmcs.create_order,
                whmcs.accept_order,
            ],
            max_task_queue_activities_per_second=integrations.rate_limits.whmcs,
        ),
        worker_for(
            "freebit",
            [
                freebit.change_plan,
                freebit.add_quota,
                freebit.change_network_type,
                freebit.change_voice_options,
                freebit.cancel_account,
            ],
            max_task_queue_activities_per_second=integrations.rate_limits.freebit,
        ),
        worker_for(
            "sftp",
            [integrations.call_records.import_file],
            activity_executor=executor,
            max_concurrent_activities=SFTP_IMPORTS,
            max_heartbeat_throttle_interval=SFTP_HEARTBEAT_THROTTLE,
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
