"""What the worker's activities need, opened once per worker process: the vendor clients, the
database pool, Redis, the secret store, and the policy settings the workflows read from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from activities.call_records import CallRecordsActivities
from activities.credentials import CredentialActivities
from activities.health import HealthActivities
from activities.policies import PolicyActivities
from integrations.config import (
    ProvisioningSettings,
    RecordsSettings,
    RotationSettings,
    SimAccountSettings,
    WhmcsSettings,
    load,
)
from integrations.connections import (
    IntegrationSettings,
    open_stored_credentials,
    open_vendor_clients,
)
from integrations.database import apply_migrations, open_pool
from integrations.freebit.client import FreebitClient
from integrations.id_mappings import IdMappings
from integrations.operation_journal import OperationJournal
from integrations.redis_connection import redis_client
from integrations.salesforce.client import SalesforceClient
from integrations.whmcs.client import WhmcsClient
from integrations.whmcs.order_journal import WhmcsOrderJournal


@dataclass(frozen=True)
class WorkerSettings:
    integrations: IntegrationSettings
    policies: PolicyActivities

    @classmethod
    def from_environment(cls) -> WorkerSettings:
        return cls(
            integrations=IntegrationSettings.from_environment(),
            policies=PolicyActivities(
                provisioning=load(ProvisioningSettings),
                sim_account=load(SimAccountSettings),
                records=load(RecordsSettings),
                rotation=load(RotationSettings),
            ),
        )


@dataclass(frozen=True)
class Integrations:
    """The worker's opened dependencies."""

    salesforce: SalesforceClient
    whmcs: WhmcsClient
    whmcs_settings: WhmcsSettings
    whmcs_orders: WhmcsOrderJournal
    freebit: FreebitClient
    id_mappings: IdMappings
    operation_journal: OperationJournal
    call_records: CallRecordsActivities
    health: HealthActivities
    credentials: CredentialActivities
    policies: PolicyActivities


@asynccontextmanager
async def open_integrations(settings: WorkerSettings) -> AsyncIterator[Integrations]:
    connections = settings.integrations
    async with AsyncExitStack() as stack:
        pool = await open_pool(connections.database)
        stack.push_async_callback(pool.close)
        async with pool.connection() as connection:
            await apply_migrations(connection)
        redis = redis_client(connections.redis.url)
        stack.push_async_callback(redis.aclose)
        credentials = await open_stored_credentials(connections)
        clients = open_vendor_clients(stack, connections, credentials, redis)
        yield Integrations(
            salesforce=clients.salesforce,
            whmcs=clients.whmcs,
            whmcs_settings=connections.whmcs,
            whmcs_orders=WhmcsOrderJournal(pool),
            freebit=clients.freebit,
            id_mappings=IdMappings(pool),
            operation_journal=OperationJournal(pool),
            call_records=CallRecordsActivities(
                connections.sftp, connections.database, clients.sftp_key
            ),
            health=HealthActivities(clients.health_probes(connections, redis), pool),
            credentials=CredentialActivities(
                credentials,
                salesforce=connections.salesforce,
                whmcs=connections.whmcs,
                freebit=clients.freebit,
                freebit_tokens=clients.freebit_tokens,
                sftp=connections.sftp,
                whmcs_rate_limit=clients.whmcs_rate_limit,
            ),
            policies=settings.policies,
        )
