"""FreebitClient and its Redis-shared token cache, against the Freebit emulator served on a
real socket and a real Redis (TEST_REDIS_URL, database 13 by default)."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from contracts.sim import (
    Cancellation,
    NetworkTypeChange,
    PlanChange,
    QuotaTopUp,
    VoiceOptionsChange,
)
from emulators.faults import Fault, FaultKind
from emulators.freebit import (
    API_PREFIX,
    DEFAULT_CREDENTIALS,
    FreebitEmulator,
    FreebitEmulatorControl,
    NewSimAccount,
    OperationRecord,
)
from emulators.freebit.clock import japan_date
from emulators.server import EmulatorServer
from integrations.config import FreebitSettings
from integrations.errors import AuthenticationError, TransientError
from integrations.freebit.client import FreebitClient
from integrations.freebit.errors import AMBIGUOUS_ERROR_CODES, AccountLockedError, FreebitError
from integrations.freebit.models import AccountDetail, TrafficInfo
from integrations.freebit.token_cache import LOCK_KEY, TOKEN_KEY, FreebitTokenCache
from integrations.secrets.provider import CredentialSource
from integrations.secrets.store import Credential
from starters.demo.redis_server import running_redis_server

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
OEM_ID = DEFAULT_CREDENTIALS.oem_id
OEM_KEY = DEFAULT_CREDENTIALS.oem_keys[0]
ACCOUNT = "08012345678"
OPERATION_GAP = timedelta(minutes=30)
INITIAL_QUOTA_MB = 10_240


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with EmulatorServer(FreebitEmulator().asgi_app()) as server:
        yield server.url


@pytest.fixture(scope="module")
def control(emulator_url: str) -> Iterator[FreebitEmulatorControl]:
    control = FreebitEmulatorControl(emulator_url)
    yield control
    control.close()


@pytest.fixture(scope="module")
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(TEST_REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
async def fresh_state(control: FreebitEmulatorControl, redis: Redis) -> None:
    control.reset()
    control.add_account(
        NewSimAccount(account=ACCOUNT, plan_code="PASI_10GB", remaining_quota_mb=INITIAL_QUOTA_MB)
    )
    await redis.delete(TOKEN_KEY, LOCK_KEY)


def freebit_settings(
    emulator_url: str, *, timeout_ms: int = 5_000, oem_key: str = OEM_KEY, **assumptions: Any
) -> FreebitSettings:
    """`assumptions`: FreebitSettings fields such as `auth_key_rejected_codes`."""
    return FreebitSettings(
        base_url=f"{emulator_url}{API_PREFIX}",
        oem_id=OEM_ID,
        oem_key=SecretStr(oem_key),
        timeout=timeout_ms,
        **assumptions,
    )


@asynccontextmanager
async def connected_client(
    emulator_url: str,
    redis: Redis | None,
    *,
    timeout_ms: int = 5_000,
    oem_key: str = OEM_KEY,
    token_cache: FreebitTokenCache | None = None,
    **assumptions: Any,
) -> AsyncIterator[FreebitClient]:
    settings = freebit_settings(emulator_url, timeout_ms=timeout_ms, oem_key=oem_key, **assumptions)
    client = FreebitClient(settings, token_cache or FreebitTokenCache(redis, settings.token_ttl))
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def freebit(emulator_url: str, redis: Redis) -> AsyncIterator[FreebitClient]:
    async with connected_client(emulator_url, redis) as client:
        yield client


def without_auth_key(body: dict[str, Any] | None) -> dict[str, Any]:
    assert body is not None
    return {name: value for name, value in body.items() if name != "authKey"}


def sent_bodies(control: FreebitEmulatorControl, operation: str) -> list[dict[str, Any]]:
    return [without_auth_key(request.body) for request in control.requests(operation)]


def sent_auth_keys(control: FreebitEmulatorControl, operation: str) -> list[str]:
    return [str((request.body or {}).get("authKey")) for request in control.requests(operation)]


def assert_gaps_kept(operations: list[OperationRecord]) -> None:
    for earlier, later in itertools.pairwise(operations):
        assert later.at - earlier.at >= OPERATION_GAP, (earlier, later)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def unreachable_redis() -> Redis:
    return Redis(port=closed_port(), retry=Retry(NoBackoff(), 0), socket_connect_timeout=1)


async def cached_auth_key(redis: Redis) -> str:
    cached = await redis.get(TOKEN_KEY)
    assert isinstance(cached, bytes)
    return cached.decode()


def japan_today(control: FreebitEmulatorControl) -> date:
    return japan_date(control.now())


# Authentication and the shared token cache


@pytest.mark.parametrize("stored", [b"", b"\xff\xfe\x00"], ids=["empty", "not text"])
async def test_a_hand_edited_cached_auth_key_is_replaced_by_a_new_login(
    freebit: FreebitClient, control: FreebitEmulatorControl, redis: Redis, stored: bytes
) -> None:
    await redis.set(TOKEN_KEY, stored)

    await freebit.account_detail(ACCOUNT)

    assert control.call_counts()["auth"] == 1
    assert (await cached_auth_key(redis)).strip()


async def test_auth_key_from_auth_oem_is_sent_inside_every_call(
    freebit: FreebitClient, control: FreebitEmulatorControl, redis: Redis
) -> None:
    await freebit.account_detail(ACCOUNT)
    await freebit.traffic_info(ACCOUNT)

    auth, detail, traffic = control.requests()
    issued = await cached_auth_key(redis)
    assert (auth.path, auth.form_fields) == (f"{API_PREFIX}/authOem/", ["json"])
    assert auth.body == {"oemId": OEM_ID, "oemKey": OEM_KEY}
    assert [detail.form_fields, traffic.form_fields] == [["json"], ["json"]]
    assert sent_auth_keys(control, "getDetail") == sent_auth_keys(control, "getTrafficInfo")
    assert sent_auth_keys(control, "getDetail") == [issued]
    assert control.call_counts() == {"auth": 1, "getDetail": 1, "getTrafficInfo": 1}


async def test_two_clients_share_one_auth_key_through_redis(
    emulator_url: str, control: FreebitEmulatorControl, redis: Redis
) -> None:
    first_cache = FreebitTokenCache(redis, timedelta(minutes=50))
    second_cache = FreebitTokenCache(redis, timedelta(minutes=50))

    async with connected_client(emulator_url, redis, token_cache=first_cache) as first:
        await first.account_detail(ACCOUNT)
    async with connected_client(emulator_url, redis, token_cache=second_cache) as second:
        await second.traffic_info(ACCOUNT)

    assert control.call_counts()["auth"] == 1
    assert (first_cache.misses, first_cache.hits) == (1, 0)
    assert (second_cache.misses, second_cache.hits) == (0, 1)
    assert 0 < await redis.pttl(TOKEN_KEY) <= timedelta(minutes=50).total_seconds() * 1000


async def test_concurrent_first_use_authenticates_once(
    emulator_url: str, control: FreebitEmulatorControl, redis: Redis
) -> None:
    control.inject(Fault(target="auth", kind=FaultKind.LATENCY, seconds=0.5))
    caches = [FreebitTokenCache(redis, timedelta(minutes=50)) for _ in range(5)]

    async def detail_with(cache: FreebitTokenCache) -> AccountDetail:
        async with connected_client(emulator_url, redis, token_cache=cache) as client:
            return await client.account_detail(ACCOUNT)

    details = await asyncio.gather(*(detail_with(cache) for cache in caches))

    assert {detail.account for detail in details} == {ACCOUNT}
    assert control.call_counts() == {"auth": 1, "getDetail": 5}
    assert sum(cache.misses for cache in caches) == 1


async def test_expired_auth_key_is_renewed_transparently(
    freebit: FreebitClient, control: FreebitEmulatorControl, redis: Redis
) -> None:
    control.set_timing(auth_key_ttl=timedelta(minutes=10))
    await freebit.account_detail(ACCOUNT)
    expired = await cached_auth_key(redis)

    control.advance_clock(minutes=11)
    detail = await freebit.account_detail(ACCOUNT)

    renewed = await cached_auth_key(redis)
    assert detail.account == ACCOUNT
    assert renewed != expired
    assert sent_auth_keys(control, "getDetail") == [expired, expired, renewed]
    assert control.call_counts() == {"auth": 2, "getDetail": 3}


async def test_invalidating_an_old_auth_key_keeps_a_newer_one(redis: Redis) -> None:
    cache = FreebitTokenCache(redis, timedelta(minutes=50))
    await redis.set(TOKEN_KEY, "newer-key")

    await cache.invalidate("older-key")
    kept = await redis.get(TOKEN_KEY)
    await cache.invalidate("newer-key")

    assert kept == b"newer-key"
    assert await redis.get(TOKEN_KEY) is None


async def test_unreachable_redis_falls_back_to_direct_auth(
    emulator_url: str, control: FreebitEmulatorControl, json_log: io.StringIO
) -> None:
    # Retrying Redis on every call, so the test also shows the warning is logged only once.
    redis = unreachable_redis()
    cache = FreebitTokenCache(redis, timedelta(minutes=50), redis_retry_interval=timedelta())

    async with connected_client(emulator_url, None, token_cache=cache) as client:
        await client.account_detail(ACCOUNT)
        await client.traffic_info(ACCOUNT)
    await redis.aclose()

    warnings = [line for line in json_log.getvalue().splitlines() if "Redis unavailable" in line]
    assert control.call_counts() == {"auth": 1, "getDetail": 1, "getTrafficInfo": 1}
    assert (cache.misses, cache.hits) == (1, 1)
    assert len(warnings) == 1


async def test_cache_uses_redis_again_once_it_is_back(
    emulator_url: str, control: FreebitEmulatorControl, tmp_path: Path
) -> None:
    with running_redis_server(tmp_path) as server:
        redis = Redis.from_url(server.url, retry=Retry(NoBackoff(), 0))
        cache = FreebitTokenCache(redis, timedelta(minutes=50), redis_retry_interval=timedelta())
        async with connected_client(emulator_url, redis, token_cache=cache) as client:
            await client.account_detail(ACCOUNT)
            server.stop()
            await client.account_detail(ACCOUNT)
            server.start()
            await client.account_detail(ACCOUNT)
        stored = await cached_auth_key(redis)
        await redis.aclose()

    assert stored == sent_auth_keys(control, "getDetail")[-1]
    assert control.call_counts()["auth"] == 2


async def test_wrong_oem_key_is_an_authentication_error(
    emulator_url: str, redis: Redis, control: FreebitEmulatorControl
) -> None:
    async with connected_client(emulator_url, redis, oem_key="wrong-key") as client:
        with pytest.raises(AuthenticationError) as raised:
            await client.account_detail(ACCOUNT)

    assert (raised.value.code, raised.value.message) == ("AUTH", "OEM authentication failed")
    assert not raised.value.retryable
    assert await redis.get(TOKEN_KEY) is None
    assert control.call_counts() == {"auth": 1}


async def test_oem_key_rotation_verifies_the_staged_key_without_touching_the_cache(
    emulator_url: str, control: FreebitEmulatorControl, redis: Redis
) -> None:
    """When a login leaves older authKeys valid; otherwise see
    test_a_login_that_invalidates_older_keys_replaces_the_shared_one."""
    new_key = "rotated-oem-key"
    async with connected_client(emulator_url, redis, login_invalidates_older_keys=False) as freebit:
        await freebit.account_detail(ACCOUNT)
        cached_before = await cached_auth_key(redis)

        with pytest.raises(AuthenticationError):
            await freebit.verify_credentials(new_key)
        control.set_oem_credentials(OEM_ID, OEM_KEY, new_key)
        await freebit.verify_credentials(new_key)
        await freebit.verify_credentials()
    assert await cached_auth_key(redis) == cached_before

    control.set_oem_credentials(OEM_ID, new_key)
    promoted_cache = FreebitTokenCache(redis, timedelta(minutes=50))
    await promoted_cache.clear()
    async with connected_client(
        emulator_url, redis, oem_key=new_key, token_cache=promoted_cache
    ) as promoted:
        await promoted.account_detail(ACCOUNT)

    last_auth = control.requests("auth")[-1]
    assert last_auth.body is not None
    assert last_auth.body["oemKey"] == new_key
    assert await cached_auth_key(redis) != cached_before


async def test_keys_never_reach_the_logs(
    emulator_url: str, control: FreebitEmulatorControl, redis: Redis, json_log: io.StringIO
) -> None:
    async with connected_client(emulator_url, redis) as client:
        await client.account_detail(ACCOUNT)
        control.expire_auth_keys()
        await client.account_detail(ACCOUNT)
    async with connected_client(emulator_url, redis, oem_key="wrong-key") as client:
        with pytest.raises(AuthenticationError):
            await client.verify_credentials()

    logged = json_log.getvalue()
    auth_keys = set(sent_auth_keys(control, "getDetail"))
    assert "freebit call" in logged
    assert OEM_KEY not in logged
    assert "wrong-key" not in logged
    assert not any(auth_key in logged for auth_key in auth_keys)


# The assumptions about Freebit's behaviour (FreebitSettings), against an emulator told to
# behave otherwise than its defaults


def test_emulator_told_so_invalidates_older_auth_keys_at_each_login(
    emulator_url: str, control: FreebitEmulatorControl
) -> None:
    def login(oem_key: str = OEM_KEY) -> dict[str, Any]:
        return post_api(emulator_url, "/authOem/", {"oemId": OEM_ID, "oemKey": oem_key})

    def detail_with(auth_key: str) -> str:
        body = {"requestDatas": [{"kind": "MVNO", "account": ACCOUNT}], "version": "2"}
        return str(
            post_api(emulator_url, "/mvno/getDetail/", {**body, "authKey": auth_key})["resultCode"]
        )

    first, second = login()["authKey"], login()["authKey"]
    by_default = [detail_with(first), detail_with(second)]
    behaviour = control.set_behaviour(
        login_invalidates_older_keys=True, auth_key_rejected_code="301"
    )
    third, fourth = login()["authKey"], login()["authKey"]
    refused_login = login("wrong-key")
    told_so = [detail_with(key) for key in (first, second, third, fourth)]

    assert by_default == ["100", "100"]
    assert (behaviour.login_invalidates_older_keys, behaviour.account_locked_code) == (True, "240")
    assert refused_login["resultCode"] == "210"
    assert told_so == ["301", "301", "301", "100"]  # a refused login ended no key
    control.reset()
    assert control.set_behaviour().login_invalidates_older_keys is False


async def test_configured_expiry_code_renews_the_auth_key_once(
    emulator_url: str, control: FreebitEmulatorControl, redis: Redis
) -> None:
    control.set_behaviour(auth_key_rejected_code="301")
    async with connected_client(
        emulator_url, redis, auth_key_rejected_codes=["211", "301"]
    ) as client:
        await client.account_detail(ACCOUNT)
        expired = await cached_auth_key(redis)
        control.expire_auth_keys()
        detail = await client.account_detail(ACCOUNT)

    renewed = await cached_auth_key(redis)
    assert detail.account == ACCOUNT
    assert sent_auth_keys(control, "getDetail") == [expired, expired, renewed]
    assert control.call_counts() == {"auth": 2, "getDetail": 3}


async def test_an_expiry_code_not_configured_fails_the_call_without_a_new_login(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    """What a wrong FREEBIT_AUTH_KEY_REJECTED_CODES does: preflight checks it for this reason."""
    control.set_behaviour(auth_key_rejected_code="301")
    await freebit.account_detail(ACCOUNT)
    control.expire_auth_keys()

    with pytest.raises(FreebitError) as raised:
        await freebit.account_detail(ACCOUNT)

    assert (raised.value.result_code, raised.value.retryable) == ("301", False)
    assert control.call_counts() == {"auth": 1, "getDetail": 2}


async def test_configured_lock_code_is_transient(
    emulator_url: str, control: FreebitEmulatorControl, redis: Redis
) -> None:
    control.set_behaviour(account_locked_code="530")
    async with (
        connected_client(emulator_url, redis, account_locked_codes=["530"]) as configured,
        connected_client(emulator_url, redis) as unconfigured,
    ):
        await configured.change_network_type(ACCOUNT, NetworkTypeChange(contract_line="5G"))
        with pytest.raises(AccountLockedError) as locked:
            await configured.account_detail(ACCOUNT)
        with pytest.raises(FreebitError) as misread:
            await unconfigured.account_detail(ACCOUNT)
        control.advance_clock(minutes=31)
        detail = await configured.account_detail(ACCOUNT)

    assert (locked.value.code, locked.value.result_code, locked.value.retryable) == (
        "LOCKED",
        "530",
        True,
    )
    assert (misread.value.result_code, misread.value.retryable) == ("530", False)
    assert detail.contract_line == "5G"


@pytest.mark.parametrize("login_invalidates_older_keys", [True, False])
async def test_a_verifying_login_drops_the_shared_key_it_invalidates(
    emulator_url: str,
    control: FreebitEmulatorControl,
    redis: Redis,
    login_invalidates_older_keys: bool,
) -> None:
    """A verifying login (a rotation's) against a Freebit whose logins end older keys: assumed
    (the default), it drops the workers' key, so their next call logs in first; not assumed,
    their next call sends the dead key, is refused once and logs in. No call fails."""
    control.set_behaviour(login_invalidates_older_keys=True)
    assumed = login_invalidates_older_keys
    async with (
        connected_client(emulator_url, redis, login_invalidates_older_keys=assumed) as worker,
        connected_client(
            emulator_url,
            redis,
            token_cache=FreebitTokenCache(redis, timedelta(minutes=50)),
            login_invalidates_older_keys=assumed,
        ) as rotation,
    ):
        await worker.account_detail(ACCOUNT)
        workers_key = await cached_auth_key(redis)
        await rotation.verify_credentials()
        cached_after_verifying = await redis.get(TOKEN_KEY)
        detail = await worker.account_detail(ACCOUNT)

    renewed = await cached_auth_key(redis)
    sent = sent_auth_keys(control, "getDetail")
    assert detail.account == ACCOUNT
    assert control.call_counts()["auth"] == 3
    if login_invalidates_older_keys:
        assert cached_after_verifying is None
        assert sent == [workers_key, renewed]
    else:
        assert cached_after_verifying == workers_key.encode()
        assert sent == [workers_key, workers_key, renewed]


class StoresANewerKeyMeanwhile(CredentialSource):
    """The OEM key, read just as another process stores the authKey it has logged in for."""

    def __init__(self, redis: Redis, newer: str) -> None:
        super().__init__(OEM_KEY.encode)
        self._redis = redis
        self._newer = newer

    async def current_async(self) -> Credential:
        await self._redis.set(TOKEN_KEY, self._newer)
        return self.current()


async def test_a_verifying_login_leaves_a_key_stored_meanwhile(
    emulator_url: str, redis: Redis
) -> None:
    """The key dropped is the one cached before the verifying login, not a newer one."""
    await redis.set(TOKEN_KEY, "key-before-the-login")
    settings = freebit_settings(emulator_url)
    client = FreebitClient(
        settings,
        FreebitTokenCache(redis, settings.token_ttl),
        oem_key=StoresANewerKeyMeanwhile(redis, "key-stored-meanwhile"),
    )
    try:
        await client.verify_credentials()
    finally:
        await client.aclose()

    assert await cached_auth_key(redis) == "key-stored-meanwhile"


async def test_processes_without_a_shared_cache_survive_logins_that_end_older_keys(
    emulator_url: str, control: FreebitEmulatorControl
) -> None:
    """Redis down: each process logs in by itself, ending the other's key; each call that
    finds its key ended logs in again once, and succeeds."""
    control.set_behaviour(login_invalidates_older_keys=True)
    async with (
        connected_client(emulator_url, None) as first,
        connected_client(emulator_url, None) as second,
    ):
        for client in (first, second, first, second):
            assert (await client.account_detail(ACCOUNT)).account == ACCOUNT

    assert control.call_counts() == {"auth": 4, "getDetail": 6}


# Reads


async def test_account_detail_reads_every_field(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    other = "09087654321"
    control.add_account(
        NewSimAccount(
            account=other,
            plan_code="PASI_20GB",
            contract_line="5G",
            voice_mail=True,
            remaining_quota_mb=2_048,
        )
    )

    detail = await freebit.account_detail(other)

    assert detail == AccountDetail(
        account=other,
        state="active",
        plan_code="PASI_20GB",
        contract_line="5G",
        voice_mail=True,
        call_waiting=False,
        remaining_quota_mb=2_048,
    )
    assert sent_bodies(control, "getDetail") == [
        {"requestDatas": [{"kind": "MVNO", "account": other}], "version": "2"}
    ]


async def test_traffic_info_reads_usage_and_remaining_quota(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    control.add_account(
        NewSimAccount(
            account=ACCOUNT, today_used_mb=12, recent_days_used_mb=345, remaining_quota_mb=678
        )
    )

    traffic = await freebit.traffic_info(ACCOUNT)

    assert traffic == TrafficInfo(
        account=ACCOUNT, today_used_mb=12, recent_days_used_mb=345, remaining_quota_mb=678
    )
    assert sent_bodies(control, "getTrafficInfo") == [{"account": ACCOUNT}]


async def test_unknown_account_is_a_freebit_error(freebit: FreebitClient) -> None:
    with pytest.raises(FreebitError) as raised:
        await freebit.account_detail("09000000000")

    assert (raised.value.code, raised.value.result_code) == ("404", "230")
    assert raised.value.message == "Account 09000000000 not found"


# Writes: wire format and effect


async def test_quota_top_up_sends_megabytes_code_and_expiry(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    expire = japan_today(control) + timedelta(days=30)

    await freebit.add_quota(ACCOUNT, QuotaTopUp(quota_mb=1_024, expire=expire))

    assert sent_bodies(control, "addSpec") == [
        {
            "kind": "MVNO",
            "account": ACCOUNT,
            "quota": 1_024,
            "quotaCode": "PASI_TOPUP",
            "expire": expire.strftime("%Y%m%d"),
        }
    ]
    assert (await freebit.account_detail(ACCOUNT)).remaining_quota_mb == INITIAL_QUOTA_MB + 1_024


async def test_plan_change_now_and_scheduled(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    await freebit.change_plan(ACCOUNT, PlanChange(plan_code="PASI_20GB"))
    changed_now = await freebit.account_detail(ACCOUNT)
    control.advance_clock(minutes=30)
    tomorrow = japan_today(control) + timedelta(days=1)
    await freebit.change_plan(ACCOUNT, PlanChange(plan_code="PASI_5GB", run_time=tomorrow))
    scheduled = await freebit.account_detail(ACCOUNT)
    control.advance_clock(minutes=24 * 60)
    applied = await freebit.account_detail(ACCOUNT)

    assert sent_bodies(control, "changePlan") == [
        {"account": ACCOUNT, "planCode": "PASI_20GB", "globalIp": "20"},
        {
            "account": ACCOUNT,
            "planCode": "PASI_5GB",
            "globalIp": "20",
            "runTime": tomorrow.strftime("%Y%m%d"),
        },
    ]
    assert changed_now.plan_code == "PASI_20GB"
    assert (scheduled.plan_code, scheduled.next_plan_code) == ("PASI_20GB", "PASI_5GB")
    assert scheduled.plan_change_date == tomorrow
    assert (applied.plan_code, applied.next_plan_code) == ("PASI_5GB", None)


async def test_voice_options_are_sent_as_10_and_20_and_only_when_given(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    await freebit.change_voice_options(
        ACCOUNT, VoiceOptionsChange(voice_mail=True, call_waiting=False)
    )
    control.advance_clock(minutes=30)
    await freebit.change_voice_options(ACCOUNT, VoiceOptionsChange(call_waiting=True))

    assert sent_bodies(control, "talkOption") == [
        {"account": ACCOUNT, "talkOption": {"voiceMail": "10", "callWaiting": "20"}},
        {"account": ACCOUNT, "talkOption": {"callWaiting": "10"}},
    ]
    detail = await freebit.account_detail(ACCOUNT)
    assert (detail.voice_mail, detail.call_waiting) == (True, True)


async def test_empty_voice_option_change_is_refused_before_any_call(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    with pytest.raises(ValueError, match="voice_mail or call_waiting"):
        await freebit.change_voice_options(ACCOUNT, VoiceOptionsChange())

    assert control.call_counts() == {}


@pytest.mark.parametrize(
    ("call", "refusal"),
    [
        (lambda client: client.add_quota(ACCOUNT, QuotaTopUp(quota_mb=512_001)), "512000 MB"),
        (
            lambda client: client.change_plan("8012345678", PlanChange(plan_code="PASI_5GB")),
            "not 10 or 11 digits",
        ),
        (
            lambda client: client.cancel_account("080-1234-5678", Cancellation()),
            "not 10 or 11 digits",
        ),
        (lambda client: client.account_detail("0801234567890"), "not 10 or 11 digits"),
    ],
)
async def test_what_freebit_would_refuse_is_refused_before_any_call(
    freebit: FreebitClient, control: FreebitEmulatorControl, call: Any, refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        await call(freebit)

    assert control.call_counts() == {}


def test_emulator_refuses_an_empty_talk_option(emulator_url: str) -> None:
    auth_key = post_api(emulator_url, "/authOem/", {"oemId": OEM_ID, "oemKey": OEM_KEY})["authKey"]

    answer = post_api(
        emulator_url,
        "/mvno/talkoption/changeOrder/",
        {"account": ACCOUNT, "talkOption": {}, "authKey": auth_key},
    )

    assert answer["resultCode"] == "220"
    assert answer["status"]["statusCode"] == "400"


def test_emulator_refuses_a_body_without_the_json_field(emulator_url: str) -> None:
    response = httpx.post(f"{emulator_url}{API_PREFIX}/authOem/", data={"oemId": OEM_ID})

    assert response.status_code == 200
    assert response.json()["resultCode"] == "220"


async def test_cancellation_is_scheduled_and_cannot_be_requested_twice(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    run_date = japan_today(control) + timedelta(days=10)

    await freebit.cancel_account(ACCOUNT, Cancellation(run_date=run_date))
    detail = await freebit.account_detail(ACCOUNT)
    control.advance_clock(minutes=30)
    with pytest.raises(FreebitError) as raised:
        await freebit.cancel_account(ACCOUNT, Cancellation())

    assert sent_bodies(control, "cancel")[0] == {
        "kind": "MVNO",
        "account": ACCOUNT,
        "runDate": run_date.strftime("%Y%m%d"),
    }
    assert (detail.state, detail.cancel_date, detail.cancellation_requested) == (
        "active",
        run_date,
        True,
    )
    assert (raised.value.code, raised.value.result_code) == ("409", "250")


async def test_unknown_plan_code_is_a_business_error(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    with pytest.raises(FreebitError) as raised:
        await freebit.change_plan(ACCOUNT, PlanChange(plan_code="PASI_99GB"))

    assert (raised.value.code, raised.value.result_code) == ("400", "221")
    assert raised.value.message == "Unknown planCode PASI_99GB"
    assert not raised.value.retryable
    assert control.operations(ACCOUNT) == []


# Locks and the operation gap


async def test_network_type_change_locks_the_account_for_30_minutes(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    await freebit.change_network_type(ACCOUNT, NetworkTypeChange(contract_line="5G"))

    with pytest.raises(AccountLockedError) as read_refused:
        await freebit.account_detail(ACCOUNT)
    with pytest.raises(AccountLockedError):
        await freebit.add_quota(ACCOUNT, QuotaTopUp(quota_mb=100))
    control.advance_clock(minutes=31)
    detail = await freebit.account_detail(ACCOUNT)
    await freebit.add_quota(ACCOUNT, QuotaTopUp(quota_mb=100))

    assert sent_bodies(control, "contractLine") == [{"account": ACCOUNT, "contractLine": "5G"}]
    assert (read_refused.value.code, read_refused.value.retryable) == ("LOCKED", True)
    assert "contract line change" in read_refused.value.message
    assert detail.contract_line == "5G"
    assert [op.operation for op in control.operations(ACCOUNT)] == ["contractLine", "addSpec"]


async def test_a_write_inside_the_gap_is_refused_and_the_gap_itself_suffices(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    await freebit.add_quota(ACCOUNT, QuotaTopUp(quota_mb=100))
    control.advance_clock(minutes=29)

    with pytest.raises(AccountLockedError) as refused:
        await freebit.change_plan(ACCOUNT, PlanChange(plan_code="PASI_20GB"))
    await freebit.account_detail(ACCOUNT)  # reads are not held back by the gap
    control.advance_clock(minutes=1)
    await freebit.change_plan(ACCOUNT, PlanChange(plan_code="PASI_20GB"))

    operations = control.operations(ACCOUNT)
    assert "operation gap" in refused.value.message
    assert [op.operation for op in operations] == ["addSpec", "changePlan"]
    assert_gaps_kept(operations)


# Transport faults


async def test_service_unavailable_is_transient(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    control.inject(Fault(target="getDetail", kind=FaultKind.HTTP_503))

    with pytest.raises(TransientError) as raised:
        await freebit.account_detail(ACCOUNT)

    assert raised.value.code == "503"
    assert (await freebit.account_detail(ACCOUNT)).account == ACCOUNT


async def test_slow_answer_is_a_timeout(
    emulator_url: str, redis: Redis, control: FreebitEmulatorControl
) -> None:
    control.inject(Fault(target="getDetail", kind=FaultKind.TIMEOUT, seconds=2))

    async with connected_client(emulator_url, redis, timeout_ms=300) as impatient:
        with pytest.raises(TransientError) as raised:
            await impatient.account_detail(ACCOUNT)

    assert raised.value.code == "ETIMEOUT"


async def test_top_up_committed_before_a_timeout_is_recorded(
    emulator_url: str, redis: Redis, control: FreebitEmulatorControl
) -> None:
    control.inject(Fault(target="addSpec", kind=FaultKind.COMMIT_THEN_TIMEOUT, seconds=2))

    async with connected_client(emulator_url, redis, timeout_ms=300) as impatient:
        with pytest.raises(TransientError) as raised:
            await impatient.add_quota(ACCOUNT, QuotaTopUp(quota_mb=500))

    assert raised.value.code == "ETIMEOUT"
    assert raised.value.code in AMBIGUOUS_ERROR_CODES
    assert [op.operation for op in control.operations(ACCOUNT)] == ["addSpec"]
    assert control.account(ACCOUNT).remaining_quota_mb == INITIAL_QUOTA_MB + 500


async def test_gateway_timeout_after_commit_is_ambiguous(
    freebit: FreebitClient, control: FreebitEmulatorControl
) -> None:
    control.inject(Fault(target="addSpec", kind=FaultKind.COMMIT_THEN_TIMEOUT, seconds=0.1))

    with pytest.raises(TransientError) as raised:
        await freebit.add_quota(ACCOUNT, QuotaTopUp(quota_mb=500))

    assert raised.value.code == "504"
    assert raised.value.code in AMBIGUOUS_ERROR_CODES
    assert [op.operation for op in control.operations(ACCOUNT)] == ["addSpec"]


async def test_refused_connection_is_a_connection_error(redis: Redis) -> None:
    async with connected_client(f"http://127.0.0.1:{closed_port()}", redis) as client:
        with pytest.raises(TransientError) as raised:
            await client.account_detail(ACCOUNT)

    assert raised.value.code == "ECONNECTION"
    assert raised.value.code not in AMBIGUOUS_ERROR_CODES


def post_api(emulator_url: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{emulator_url}{API_PREFIX}{path}", data={"json": json.dumps(payload)})
    answer: dict[str, Any] = response.json()
    return answer
