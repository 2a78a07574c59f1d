"""What a process connects to: its settings, the secret store, and the vendor clients that
read their credentials from it. The worker opens them once; `portalctl health` too, for its
one-shot checks."""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from dataclasses import dataclass

import psycopg
from redis.asyncio import Redis

from contracts.rotation import CredentialKind
from integrations.config import (
    DatabaseSettings,
    FreebitSettings,
    RedisSettings,
    SalesforceSettings,
    SecretsSettings,
    SftpSettings,
    WhmcsSettings,
    load,
)
from integrations.freebit.client import FreebitClient
from integrations.freebit.token_cache import FreebitTokenCache
from integrations.health.probes import HealthProbes
from integrations.salesforce.client import SalesforceClient
from integrations.secrets.bootstrap import SeedCredentials, open_credentials
from integrations.secrets.provider import StoredCredential, StoredCredentials, source_for
from integrations.whmcs.client import WhmcsClient


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

    @classmethod
    def from_environment(cls) -> IntegrationSettings:
        return cls(
            salesforce=load(SalesforceSettings),
            whmcs=load(WhmcsSettings),
            freebit=load(FreebitSettings),
            database=load(DatabaseSettings),
            redis=load(RedisSettings),
            secrets=load(SecretsSettings),
            sftp=load(SftpSettings) if os.environ.get("SFTP_HOST") else None,
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


async def active_credentials_or_settings(settings: IntegrationSettings) -> StoredCredentials | None:
    """The secret store's active versions, as the worker uses them; None (the credentials in
    the settings) when PostgreSQL is down, for the one-shot checks that report it themselves."""
    try:
        return await open_stored_credentials(settings)
    except psycopg.OperationalError:
        return None


@dataclass(frozen=True)
class VendorClients:
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
