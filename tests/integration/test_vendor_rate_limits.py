"""Each vendor's rate limit holds across workers: the clients of two worker processes, sharing
one Redis, together never send a vendor more calls than its SF_/WHMCS_/FREEBIT_RATE_LIMIT_PER_
SECOND allows, whichever path sends them (here: the health check's calls and plain client
calls, as the activities make them). Counted where it matters, at the vendor (the emulators).

No assertion on how fast anything goes: a limit far below the test's length refuses all calls
but the first, and a faster one is checked from below only (the k-th call cannot reach the
vendor before the limit lets it go; a loaded machine only makes it later)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from emulators.control_client import EmulatorControl
from integrations.config import (
    ConfigurationError,
    DatabaseSettings,
    RedisSettings,
    VendorRateLimitSettings,
    load,
)
from integrations.connections import IntegrationSettings, VendorClients, open_vendor_clients
from integrations.errors import TransientError
from integrations.health.probes import SALESFORCE_QUERY
from integrations.redis_connection import redis_client
from integrations.vendor_rate_limit import RATE_LIMITED, redis_key
from starters.cli.support import CONFIGURATION_EXIT_CODE
from starters.demo.local_services import free_port
from starters.demo.local_vendors import LocalVendors
from tests.conftest import CLIENT_TIMEOUT_MS, TEST_REDIS_URL
from tests.e2e.test_startup_failures import assert_one_line, portalctl

VENDORS = ("salesforce", "whmcs", "freebit")
ONE_CALL_PER_100_SECONDS = 0.01
"""Far slower than any test: after the first call, every other one waits out its timeout."""
PACED_PER_SECOND = 5.0
BURST = 5
"""What the limit lets go at once after a quiet second: one second's worth."""
CALLS_PER_WORKER = 5
PACED_TIMEOUT_MS = 20_000
"""Long enough for the last of both workers' calls to get its turn."""
CLOCK_RESOLUTION = 0.001
"""The limiter reads the wall clock in whole milliseconds."""
REDIS_DOWN_WARNING = "Redis unavailable: each process limits its own calls to the vendor's rate"

Call = Callable[[VendorClients], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "salesforce": lambda clients: asyncio.to_thread(clients.salesforce.query, SALESFORCE_QUERY),
    "whmcs": lambda clients: clients.whmcs.get_clients(limit=1),
    "freebit": lambda clients: clients.freebit.check_auth_key(),
}


@pytest.fixture
async def fresh_limits(vendors: LocalVendors) -> LocalVendors:
    """The emulators as `vendors` leaves them, and no vendor's rate limit state in Redis."""
    async with redis_client(TEST_REDIS_URL) as redis:
        await redis.delete(*(redis_key(vendor) for vendor in VENDORS))
    return vendors


def limited_settings(
    vendors: LocalVendors,
    database: DatabaseSettings,
    per_second: float | None,
    *,
    redis_url: str = TEST_REDIS_URL,
    timeout_ms: int = CLIENT_TIMEOUT_MS,
) -> IntegrationSettings:
    """The worker's settings with `per_second` for every vendor (None: unset)."""
    rates = {
        "SF_RATE_LIMIT_PER_SECOND": per_second,
        "WHMCS_RATE_LIMIT_PER_SECOND": per_second,
        "FREEBIT_RATE_LIMIT_PER_SECOND": per_second,
    }
    settings = vendors.integration_settings(database, RedisSettings(REDIS_URL=redis_url))
    timeout = {"timeout": timeout_ms}
    return dataclasses.replace(
        settings,
        salesforce=settings.salesforce.model_copy(update=timeout),
        whmcs=settings.whmcs.model_copy(update=timeout),
        freebit=settings.freebit.model_copy(update=timeout),
        rate_limits=VendorRateLimitSettings.model_validate(rates),
    )


@asynccontextmanager
async def worker_clients(settings: IntegrationSettings) -> AsyncIterator[VendorClients]:
    """The vendor clients one worker process opens, on a Redis connection of its own."""
    async with AsyncExitStack() as stack:
        redis = redis_client(settings.redis.url)
        stack.push_async_callback(redis.aclose)
        yield open_vendor_clients(stack, settings, None, redis)


def control_of(vendors: LocalVendors, vendor: str) -> EmulatorControl:
    controls: dict[str, EmulatorControl] = {
        "salesforce": vendors.salesforce,
        "whmcs": vendors.whmcs,
        "freebit": vendors.freebit,
    }
    return controls[vendor]


def api_calls(vendors: LocalVendors, vendor: str) -> list[float]:
    """When each call the limit governs reached the vendor, in order (not Salesforce logins)."""
    arrivals = control_of(vendors, vendor).call_arrivals()
    return sorted(arrived for operation, arrived in arrivals if operation != "token")


def refused_by_the_limit(outcome: object) -> bool:
    return (
        isinstance(outcome, TransientError) and outcome.code == RATE_LIMITED and outcome.retryable
    )


def test_limits_are_read_from_the_vendor_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_RATE_LIMIT_PER_SECOND", "20")
    monkeypatch.setenv("WHMCS_RATE_LIMIT_PER_SECOND", "2.5")
    monkeypatch.delenv("FREEBIT_RATE_LIMIT_PER_SECOND", raising=False)

    limits = load(VendorRateLimitSettings)

    assert (limits.salesforce, limits.whmcs, limits.freebit) == (20, 2.5, None)


def test_a_non_positive_limit_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREEBIT_RATE_LIMIT_PER_SECOND", "0")
    with pytest.raises(ConfigurationError, match=r"^configuration error: FREEBIT_RATE_LIMIT_PER"):
        load(VendorRateLimitSettings)


async def test_a_bad_limit_stops_the_worker_with_one_line(
    vendors: LocalVendors, database: DatabaseSettings
) -> None:
    environment = {
        **vendors.environment(),
        "DATABASE_URL": database.url,
        "REDIS_URL": TEST_REDIS_URL,
        "WHMCS_RATE_LIMIT_PER_SECOND": "fast",
    }

    outcome = await portalctl("worker", environment)

    assert_one_line(outcome, CONFIGURATION_EXIT_CODE, "WHMCS_RATE_LIMIT_PER_SECOND", "'fast'")


@pytest.mark.parametrize("vendor", VENDORS)
async def test_two_workers_together_get_no_more_than_the_limit(
    fresh_limits: LocalVendors, database: DatabaseSettings, vendor: str
) -> None:
    settings = limited_settings(fresh_limits, database, ONE_CALL_PER_100_SECONDS)
    call = CALLS[vendor]

    async with worker_clients(settings) as first, worker_clients(settings) as second:
        outcomes = await asyncio.gather(
            *(call(clients) for clients in (first, second, first, second)),
            return_exceptions=True,
        )

    assert len(api_calls(fresh_limits, vendor)) == 1
    refused = [outcome for outcome in outcomes if refused_by_the_limit(outcome)]
    if vendor == "freebit":
        # The one request was the login the health check needed; its getDetail had to wait.
        assert control_of(fresh_limits, vendor).call_counts() == {"auth": 1}
        assert len(refused) == 4, outcomes
    else:
        assert len(refused) == 3, outcomes


async def test_salesforce_logins_are_not_held_back_by_the_limit(
    fresh_limits: LocalVendors, database: DatabaseSettings
) -> None:
    settings = limited_settings(fresh_limits, database, ONE_CALL_PER_100_SECONDS)

    async with worker_clients(settings) as first, worker_clients(settings) as second:
        await CALLS["salesforce"](first)
        outcome = await asyncio.gather(CALLS["salesforce"](second), return_exceptions=True)

    assert refused_by_the_limit(outcome[0])
    assert fresh_limits.salesforce.call_counts() == {"token": 2, "query": 1}


@pytest.mark.parametrize("vendor", VENDORS)
async def test_two_busy_workers_are_paced_to_the_limit_together(
    fresh_limits: LocalVendors, database: DatabaseSettings, vendor: str
) -> None:
    settings = limited_settings(
        fresh_limits, database, PACED_PER_SECOND, timeout_ms=PACED_TIMEOUT_MS
    )
    interval = 1 / PACED_PER_SECOND
    call = CALLS[vendor]

    async with worker_clients(settings) as first, worker_clients(settings) as second:
        started = time.time()
        await asyncio.gather(
            *(call(clients) for clients in (first, second) for _ in range(CALLS_PER_WORKER))
        )

    arrivals = api_calls(fresh_limits, vendor)
    assert len(arrivals) >= 2 * CALLS_PER_WORKER  # Freebit's login comes on top
    # BURST calls go at once; each later one waits its interval: the k-th call (from 1) cannot
    # have left before started + (k - BURST) intervals, however late the machine let it go.
    for k, arrived in enumerate(arrivals, start=1):
        earliest = started + max(0, k - BURST) * interval - CLOCK_RESOLUTION
        assert arrived >= earliest, (k, arrived - started, arrivals)


async def test_without_redis_each_worker_keeps_to_the_limit_alone(
    fresh_limits: LocalVendors, database: DatabaseSettings, json_log: io.StringIO
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/15"
    settings = limited_settings(fresh_limits, database, ONE_CALL_PER_100_SECONDS, redis_url=nowhere)

    async with worker_clients(settings) as clients:
        await CALLS["whmcs"](clients)
        await CALLS["salesforce"](clients)
        again = await asyncio.gather(
            CALLS["whmcs"](clients), CALLS["salesforce"](clients), return_exceptions=True
        )

    assert all(refused_by_the_limit(outcome) for outcome in again), again
    assert fresh_limits.whmcs.call_counts() == {"GetClients": 1}
    assert fresh_limits.salesforce.call_counts()["query"] == 1
    warnings = [entry for entry in log_entries(json_log) if entry["event"] == REDIS_DOWN_WARNING]
    assert sorted(entry["vendor"] for entry in warnings) == ["salesforce", "whmcs"]


async def test_unset_limits_send_every_call_without_asking_redis(
    fresh_limits: LocalVendors, database: DatabaseSettings, json_log: io.StringIO
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/15"
    settings = limited_settings(fresh_limits, database, None, redis_url=nowhere)

    async with worker_clients(settings) as clients:
        for _ in range(3):
            await CALLS["whmcs"](clients)
            await CALLS["salesforce"](clients)

    assert fresh_limits.whmcs.call_counts() == {"GetClients": 3}
    assert fresh_limits.salesforce.call_counts()["query"] == 3
    assert not [entry for entry in log_entries(json_log) if "Redis" in entry["event"]]


def log_entries(log: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.getvalue().splitlines() if line.startswith("{")]
