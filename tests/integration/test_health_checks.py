"""Each health check through the production clients, against the vendor emulators, the SFTP
emulator (real SSH), the machine's PostgreSQL and a Redis server this test can stop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import paramiko
import pytest
from pydantic import SecretStr

from contracts.health import HealthStatus, Integration
from emulators.faults import Fault, FaultKind
from emulators.freebit import NewSimAccount
from emulators.sftp import SftpEmulator
from integrations.config import DatabaseSettings
from integrations.freebit.client import PROBE_PLACEHOLDER_ACCOUNT, FreebitClient
from integrations.freebit.token_cache import TOKEN_KEY, FreebitTokenCache
from integrations.health.probes import HealthProbes
from integrations.health.status import LatencyThresholds
from integrations.redis_connection import redis_client
from integrations.salesforce.client import SalesforceClient
from integrations.whmcs.client import WhmcsClient
from starters.demo.local_vendors import LocalVendors
from starters.demo.redis_server import RedisServer, running_redis_server

CLIENT_TIMEOUT_MS = 20_000
"""Longer than any latency injected here, so that slowness is measured, not a timeout."""
NEVER_SLOW = LatencyThresholds(warning=timedelta(minutes=1), critical=timedelta(minutes=2))
"""Makes `ok` independent of how busy the machine is."""
RELAXED = dict.fromkeys(Integration, NEVER_SLOW)
# A check is at least as slow as the latency injected into it, so these classify it for sure.
WARNING_ONLY = LatencyThresholds(warning=timedelta(milliseconds=200), critical=timedelta(minutes=2))
CRITICAL_SOON = LatencyThresholds(
    warning=timedelta(milliseconds=100), critical=timedelta(milliseconds=300)
)
INJECTED_LATENCY_SECONDS = 0.6
LATENCY_TARGETS = {
    Integration.SALESFORCE: "query",
    Integration.WHMCS: "GetClients",
    Integration.FREEBIT: "getDetail",
}
SIM = "08012345678"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


class Probes:
    """Builds HealthProbes on the emulators, with thresholds and settings per test."""

    def __init__(
        self, vendors: LocalVendors, database: DatabaseSettings, redis_server: RedisServer
    ) -> None:
        self._vendors = vendors
        self._database = database
        self._redis_server = redis_server
        self.salesforce_clients: list[SalesforceClient] = []
        self.async_closers: list[Callable[[], Awaitable[None]]] = []

    def build(
        self,
        thresholds: dict[Integration, LatencyThresholds | None] | None = None,
        *,
        sftp: SftpEmulator | None = None,
        freebit_oem_key: str | None = None,
        freebit_tokens: FreebitTokenCache | None = None,
        freebit_probe_account: str | None = None,
        database: DatabaseSettings | None = None,
    ) -> HealthProbes:
        """`freebit_tokens`: e.g. one on the Redis the workers share; default: this check's."""
        vendors = self._vendors
        freebit_settings = vendors.freebit_settings.model_copy(
            update={"timeout": CLIENT_TIMEOUT_MS, "probe_account": freebit_probe_account}
            | ({"oem_key": SecretStr(freebit_oem_key)} if freebit_oem_key else {})
        )
        salesforce = SalesforceClient(
            vendors.salesforce_settings.model_copy(update={"timeout": CLIENT_TIMEOUT_MS})
        )
        whmcs = WhmcsClient(
            vendors.whmcs_settings.model_copy(update={"timeout": CLIENT_TIMEOUT_MS})
        )
        freebit = FreebitClient(
            freebit_settings, freebit_tokens or FreebitTokenCache(None, timedelta(minutes=5))
        )
        redis = redis_client(self._redis_server.url)
        self.salesforce_clients.append(salesforce)
        self.async_closers += [whmcs.aclose, freebit.aclose, redis.aclose]
        return HealthProbes(
            salesforce=salesforce,
            whmcs=whmcs,
            freebit=freebit,
            redis=redis,
            database=database or self._database,
            sftp_settings=sftp.settings() if sftp else None,
            thresholds=thresholds or RELAXED,
        )


@pytest.fixture
async def probes(
    vendors: LocalVendors, database: DatabaseSettings, redis_server: RedisServer
) -> AsyncIterator[Probes]:
    factory = Probes(vendors, database, redis_server)
    yield factory
    for client in factory.salesforce_clients:
        client.close()
    for close in factory.async_closers:
        await close()


@pytest.mark.parametrize(
    "integration",
    [
        Integration.SALESFORCE,
        Integration.WHMCS,
        Integration.FREEBIT,
        Integration.REDIS,
        Integration.DATABASE,
    ],
)
async def test_check_passes_against_a_healthy_system(
    probes: Probes, integration: Integration
) -> None:
    result = await probes.build().check(integration)

    assert (result.status, result.error) == (HealthStatus.OK, None)
    assert result.integration is integration


async def test_salesforce_check_reports_the_api_usage(probes: Probes) -> None:
    result = await probes.build().check(Integration.SALESFORCE)

    assert result.api_usage is not None
    assert result.api_usage.used >= 1
    assert result.api_usage.limit == 15_000


async def test_sftp_check_connects_with_host_key_verification(
    probes: Probes, sftp: SftpEmulator
) -> None:
    assert (await probes.build(sftp=sftp).check(Integration.SFTP)).status is HealthStatus.OK

    sftp.write_known_hosts(paramiko.RSAKey.generate(1024))
    refused = await probes.build(sftp=sftp).check(Integration.SFTP)

    assert refused.status is HealthStatus.DOWN
    assert refused.error is not None
    assert "host key" in refused.error


async def test_sftp_is_checked_only_when_configured(probes: Probes, sftp: SftpEmulator) -> None:
    assert Integration.SFTP not in probes.build().integrations
    assert Integration.SFTP in probes.build(sftp=sftp).integrations


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [(WARNING_ONLY, HealthStatus.WARNING), (CRITICAL_SOON, HealthStatus.CRITICAL)],
    ids=["warning", "critical"],
)
@pytest.mark.parametrize("integration", list(LATENCY_TARGETS))
async def test_injected_latency_is_classified(
    probes: Probes,
    vendors: LocalVendors,
    integration: Integration,
    thresholds: LatencyThresholds,
    expected: HealthStatus,
) -> None:
    control = {
        Integration.SALESFORCE: vendors.salesforce,
        Integration.WHMCS: vendors.whmcs,
        Integration.FREEBIT: vendors.freebit,
    }[integration]
    checker = probes.build({integration: thresholds})
    await checker.check(integration)  # logs in first: the latency goes to the check itself
    control.inject(
        Fault(
            target=LATENCY_TARGETS[integration],
            kind=FaultKind.LATENCY,
            seconds=INJECTED_LATENCY_SECONDS,
        )
    )

    result = await checker.check(integration)

    assert result.status is expected
    assert result.latency_ms >= INJECTED_LATENCY_SECONDS * 1000


async def test_a_failing_vendor_is_down_with_its_error(
    probes: Probes, vendors: LocalVendors
) -> None:
    vendors.whmcs.inject(Fault(target="GetClients", kind=FaultKind.HTTP_503))
    vendors.salesforce.inject(Fault(target="query", kind=FaultKind.HTTP_503))
    vendors.freebit.inject(Fault(target="getDetail", kind=FaultKind.HTTP_503))
    checker = probes.build()

    whmcs = await checker.check(Integration.WHMCS)
    salesforce = await checker.check(Integration.SALESFORCE)
    freebit = await checker.check(Integration.FREEBIT)

    assert (whmcs.status, whmcs.error) == (HealthStatus.DOWN, "503 GetClients failed with HTTP 503")
    assert (freebit.status, freebit.error) == (
        HealthStatus.DOWN,
        "503 getDetail failed with HTTP 503",
    )
    assert salesforce.status is HealthStatus.DOWN
    assert salesforce.error is not None
    assert salesforce.error.startswith("503")


async def test_refused_freebit_credentials_are_down(probes: Probes) -> None:
    result = await probes.build(freebit_oem_key="not-the-oem-key").check(Integration.FREEBIT)

    assert result.status is HealthStatus.DOWN
    assert result.error is not None
    assert "not-the-oem-key" not in result.error


# The Freebit check and the workers' shared authKey (freebit:auth:token)


@pytest.fixture
async def shared_tokens(redis_server: RedisServer) -> AsyncIterator[SharedTokens]:
    """A Redis the workers and the check share the authKey through, holding none yet."""
    shared = SharedTokens(redis_server)
    await shared.redis.delete(TOKEN_KEY)
    yield shared
    await shared.aclose()


class SharedTokens:
    def __init__(self, redis_server: RedisServer) -> None:
        self.redis = redis_client(redis_server.url)
        self._clients: list[FreebitClient] = []

    def cache(self) -> FreebitTokenCache:
        """One process's cache of the shared authKey."""
        return FreebitTokenCache(self.redis, timedelta(minutes=50))

    def worker(self, vendors: LocalVendors) -> FreebitClient:
        client = FreebitClient(vendors.freebit_settings, self.cache())
        self._clients.append(client)
        return client

    async def cached(self) -> str:
        cached = await self.redis.get(TOKEN_KEY)
        assert isinstance(cached, bytes)
        return cached.decode()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        await self.redis.aclose()


def sent_to_freebit(vendors: LocalVendors, operation: str, field: str) -> list[Any]:
    """`field` of each `operation` request the Freebit emulator received, oldest first."""
    bodies = [request.body or {} for request in vendors.freebit.requests(operation)]
    if field == "account":
        return [body["requestDatas"][0]["account"] for body in bodies]
    return [body.get(field) for body in bodies]


async def test_freebit_check_does_not_invalidate_the_workers_auth_key(
    probes: Probes, vendors: LocalVendors, shared_tokens: SharedTokens
) -> None:
    vendors.freebit.set_behaviour(login_invalidates_older_keys=True)
    vendors.freebit.add_account(NewSimAccount(account=SIM))
    worker = shared_tokens.worker(vendors)
    checker = probes.build(freebit_tokens=shared_tokens.cache())

    await worker.account_detail(SIM)
    workers_key = await shared_tokens.cached()
    result = await checker.check(Integration.FREEBIT)
    await worker.account_detail(SIM)

    assert (result.status, result.error) == (HealthStatus.OK, None)
    assert vendors.freebit.call_counts() == {"auth": 1, "getDetail": 3}
    assert sent_to_freebit(vendors, "getDetail", "authKey") == [workers_key] * 3
    assert sent_to_freebit(vendors, "getDetail", "account") == [
        SIM,
        PROBE_PLACEHOLDER_ACCOUNT,
        SIM,
    ]


async def test_freebit_check_logs_in_only_without_a_usable_cached_key(
    probes: Probes, vendors: LocalVendors, shared_tokens: SharedTokens
) -> None:
    vendors.freebit.set_behaviour(login_invalidates_older_keys=True)
    vendors.freebit.add_account(NewSimAccount(account=SIM))
    worker = shared_tokens.worker(vendors)
    checker = probes.build(freebit_tokens=shared_tokens.cache())

    first = await checker.check(Integration.FREEBIT)  # none cached: logs in, for everyone
    stored = await shared_tokens.cached()
    await worker.account_detail(SIM)
    vendors.freebit.expire_auth_keys()
    second = await checker.check(Integration.FREEBIT)  # rejected: logs in again, once
    renewed = await shared_tokens.cached()
    await worker.account_detail(SIM)

    assert [first.status, second.status] == [HealthStatus.OK, HealthStatus.OK]
    assert vendors.freebit.call_counts() == {"auth": 2, "getDetail": 5}
    # check, worker, check refused and sent again, worker
    assert sent_to_freebit(vendors, "getDetail", "authKey") == [
        stored,
        stored,
        stored,
        renewed,
        renewed,
    ]
    assert renewed != stored


async def test_freebit_check_reads_the_probe_account_when_one_is_set(
    probes: Probes, vendors: LocalVendors
) -> None:
    vendors.freebit.add_account(NewSimAccount(account=SIM))

    found = await probes.build(freebit_probe_account=SIM).check(Integration.FREEBIT)
    missing = await probes.build(freebit_probe_account="09000000000").check(Integration.FREEBIT)

    assert (found.status, found.error) == (HealthStatus.OK, None)
    assert (missing.status, missing.error) == (
        HealthStatus.DOWN,
        "404 Account 09000000000 not found",
    )
    assert sent_to_freebit(vendors, "getDetail", "account") == [SIM, "09000000000"]


async def test_stopped_redis_is_down_until_it_is_back(
    probes: Probes, redis_server: RedisServer
) -> None:
    checker = probes.build()
    redis_server.stop()
    try:
        down = await checker.check(Integration.REDIS)
    finally:
        redis_server.start()

    assert down.status is HealthStatus.DOWN
    assert down.error is not None
    assert (await checker.check(Integration.REDIS)).status is HealthStatus.OK


async def test_unreachable_database_is_down(probes: Probes) -> None:
    nowhere = DatabaseSettings(DATABASE_URL="postgresql://postgres@127.0.0.1:1/postgres")

    result = await probes.build(database=nowhere).check(Integration.DATABASE)

    assert result.status is HealthStatus.DOWN
    assert result.error is not None
