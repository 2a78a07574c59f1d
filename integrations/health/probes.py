"""The health check of each system, as the External Dependencies Runbook defines it, through
the same clients the workflows use: Salesforce a SOQL query (JWT login included), WHMCS
`GetClients limitnum=1`, Freebit a read-only call with the workers' shared authKey (the seed's
"auth token refresh": an OEM login only when none is cached or Freebit rejected it, so the
check never invalidates the workers' key), Redis PING, PostgreSQL `SELECT 1`, SFTP a
connection (host key and key authentication included).

A check never raises: a failure is a `down` result carrying the error text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

import psycopg
from redis.asyncio import Redis

from contracts.health import ApiUsage, HealthResult, HealthStatus, Integration
from integrations import sftp
from integrations.config import DatabaseSettings, SftpSettings
from integrations.freebit.client import FreebitClient
from integrations.health.status import SEED_THRESHOLDS, LatencyThresholds, classify
from integrations.salesforce.client import SalesforceClient
from integrations.secrets.provider import CredentialSource
from integrations.whmcs.client import WhmcsClient

SALESFORCE_QUERY = "SELECT Id FROM Order LIMIT 1"
DATABASE_CONNECT_TIMEOUT_SECONDS = 5
CHECK_TIMEOUT = timedelta(seconds=60)
"""Upper bound of one check, beyond the clients' own timeouts."""
MAX_ERROR_LENGTH = 500


class SftpNotConfiguredError(Exception):
    def __init__(self) -> None:
        super().__init__("SFTP is not configured (SFTP_HOST is unset)")


async def ping_redis(redis: Redis) -> None:
    await redis.ping()


async def select_one(database: DatabaseSettings) -> None:
    async with await psycopg.AsyncConnection.connect(
        database.url, connect_timeout=DATABASE_CONNECT_TIMEOUT_SECONDS
    ) as connection:
        await connection.execute("SELECT 1")


class HealthProbes:
    def __init__(
        self,
        *,
        salesforce: SalesforceClient,
        whmcs: WhmcsClient,
        freebit: FreebitClient,
        redis: Redis,
        database: DatabaseSettings,
        sftp_settings: SftpSettings | None,
        sftp_key: CredentialSource | None = None,
        thresholds: Mapping[Integration, LatencyThresholds | None] = SEED_THRESHOLDS,
    ) -> None:
        self._salesforce = salesforce
        self._whmcs = whmcs
        self._freebit = freebit
        self._redis = redis
        self._database = database
        self._sftp = sftp_settings
        self._sftp_key = sftp_key
        self._thresholds = thresholds

    @property
    def integrations(self) -> list[Integration]:
        """What this process can check: SFTP only when it is configured."""
        return [i for i in Integration if i is not Integration.SFTP or self._sftp is not None]

    async def check(self, integration: Integration) -> HealthResult:
        """Run the integration's check once; its latency is classified, a failure is down."""
        probe = self._probe(integration)
        checked_at = datetime.now(UTC)
        started = time.monotonic()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT.total_seconds()):
                await probe()
        except Exception as error:  # any failure of the check is its result
            return HealthResult(
                integration=integration,
                status=HealthStatus.DOWN,
                latency_ms=_elapsed_ms(started),
                checked_at=checked_at,
                error=_describe(error),
            )
        latency = timedelta(seconds=time.monotonic() - started)
        return HealthResult(
            integration=integration,
            status=classify(latency, self._thresholds.get(integration)),
            latency_ms=round(latency.total_seconds() * 1000),
            checked_at=checked_at,
            api_usage=self._api_usage() if integration is Integration.SALESFORCE else None,
        )

    def _probe(self, integration: Integration) -> Callable[[], Awaitable[object]]:
        probes: dict[Integration, Callable[[], Awaitable[object]]] = {
            Integration.SALESFORCE: lambda: asyncio.to_thread(
                self._salesforce.query, SALESFORCE_QUERY
            ),
            Integration.WHMCS: lambda: self._whmcs.get_clients(limit=1),
            Integration.FREEBIT: self._freebit.check_auth_key,
            Integration.REDIS: lambda: ping_redis(self._redis),
            Integration.DATABASE: lambda: select_one(self._database),
            Integration.SFTP: lambda: asyncio.to_thread(self._connect_sftp),
        }
        return probes[integration]

    def _connect_sftp(self) -> None:
        if self._sftp is None:
            raise SftpNotConfiguredError()
        with sftp.connect(self._sftp, self._sftp_key):
            pass

    def _api_usage(self) -> ApiUsage | None:
        usage = self._salesforce.api_usage
        return ApiUsage(used=usage.used, limit=usage.limit) if usage else None


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, TimeoutError):
        text = f"no answer within {CHECK_TIMEOUT.total_seconds():.0f} s"
    return text[:MAX_ERROR_LENGTH]
