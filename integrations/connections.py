"""What a process connects to: its settings, the secret store, and the vendor clients that
read their credentials from it and share each vendor's rate limit through Redis. The worker
opens them once; `portalctl health` and `portalctl preflight` too, for their one-shot checks."""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

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
    VendorRateLimitSettings,
    WhmcsSettings,
    load,
)
from integrations.freebit.client import FreebitClient
from integrations.freebit.token_cache import FreebitTokenCache
from integrations.health.probes import HealthProbes
from integrations.redis_connection import sync_redis_client
from integrations.salesforce.client import SalesforceClient
from integrations.secrets.bootstrap import SeedCredentials, open_credentials
from integrations.secrets.provider import StoredCredential, StoredCredentials, source_for
from integrations.vendor_rate_limit import AsyncVendorRateLimit, VendorRateLimit
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
    rate_limits: VendorRateLimitSettings = field(
        default_factory=VendorRateLimitSettings.model_construct
    )

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
            rate_limits=load(VendorRateLimitSettings),
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
    whmcs_rate_limit: AsyncVendorRateLimit | None = None
    """For the WHMCS clients the rotation builds to verify a candidate credential."""

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
    """The clients, closed with `stack`; `credentials` None: those in the settings. Each
    waits for a turn under its vendor's rate limit at most its own timeout."""
    limits = settings.rate_limits
    salesforce = SalesforceClient(
        settings.salesforce,
        private_key=source_for(credentials, CredentialKind.SALESFORCE_JWT),
        rate_limit=_salesforce_rate_limit(stack, settings),
    )
    stack.callback(salesforce.close)
    whmcs_rate_limit = _async_rate_limit("whmcs", limits.whmcs, redis, settings.whmcs.timeout)
    whmcs = WhmcsClient(
        settings.whmcs,
        credentials=source_for(credentials, CredentialKind.WHMCS_API),
        rate_limit=whmcs_rate_limit,
    )
    stack.push_async_callback(whmcs.aclose)
    freebit_tokens = FreebitTokenCache(redis, settings.freebit.token_ttl)
    freebit = FreebitClient(
        settings.freebit,
        freebit_tokens,
        oem_key=source_for(credentials, CredentialKind.FREEBIT_OEM),
        rate_limit=_async_rate_limit("freebit", limits.freebit, redis, settings.freebit.timeout),
    )
    stack.push_async_callback(freebit.aclose)
    return VendorClients(
        salesforce=salesforce,
        whmcs=whmcs,
        freebit=freebit,
        freebit_tokens=freebit_tokens,
        sftp_key=source_for(credentials, CredentialKind.SFTP_SSH),
        whmcs_rate_limit=whmcs_rate_limit,
    )


def _salesforce_rate_limit(
    stack: AsyncExitStack, settings: IntegrationSettings
) -> VendorRateLimit | None:
    """With a Redis client of its own: simple-salesforce runs in threads, not the event loop."""
    per_second = settings.rate_limits.salesforce
    if per_second is None:
        return None
    redis = sync_redis_client(settings.redis.url)
    stack.callback(redis.close)
    max_wait = settings.salesforce.timeout / 1000
    return VendorRateLimit("salesforce", per_second, redis, max_wait=max_wait)


def _async_rate_limit(
    vendor: str, per_second: float | None, redis: Redis, timeout_ms: int
) -> AsyncVendorRateLimit | None:
    if per_second is None:
        return None
    return AsyncVendorRateLimit(vendor, per_second, redis, max_wait=timeout_ms / 1000)
