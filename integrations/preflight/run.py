"""Every preflight check of every configured system, concurrently; a failing system never
stops the checks of another."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from contracts.rotation import CredentialKind
from integrations.config import PlatformEventSettings
from integrations.connections import IntegrationSettings, VendorClients
from integrations.preflight.freebit import FreebitPreflight
from integrations.preflight.infrastructure import database_checks, redis_checks, sftp_checks
from integrations.preflight.result import CheckResult
from integrations.preflight.salesforce import SalesforcePreflight
from integrations.preflight.whmcs import WhmcsPreflight
from integrations.secrets.provider import StoredCredentials, source_for


async def run_preflight(
    settings: IntegrationSettings,
    events: PlatformEventSettings,
    clients: VendorClients,
    credentials: StoredCredentials | None,
    redis: Redis,
    *,
    test_client_id: int | None,
) -> list[CheckResult]:
    """`test_client_id`: also the WHMCS marker round trip, with a test order for this client."""
    salesforce = SalesforcePreflight(
        settings.salesforce,
        events,
        clients.salesforce,
        source_for(credentials, CredentialKind.SALESFORCE_JWT),
    )
    whmcs = WhmcsPreflight(settings.whmcs, clients.whmcs, test_client_id=test_client_id)
    freebit = FreebitPreflight(settings.freebit, clients.freebit)
    systems = [
        salesforce.run(),
        whmcs.run(),
        freebit.run(),
        database_checks(settings.database),
        redis_checks(redis),
    ]
    if settings.sftp is not None:
        systems.append(sftp_checks(settings.sftp, clients.sftp_key))
    return [result for results in await asyncio.gather(*systems) for result in results]
