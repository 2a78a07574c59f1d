"""One vendor's calls per second across every worker and process, shared through Redis.

pyrate-limiter's GCRA with its `RedisStateStore`: one small hash per vendor
(`rate-limit:<vendor>`), read and advanced by one Lua script, so concurrent callers on any
host never admit more than the rate together. The bucket holds one second's worth of calls
(at least one): after a quiet second that many go at once, then one every 1/rate seconds.
Every request a vendor client sends takes a turn first (`integrations.rate_limited_http`).

A call waits for its turn at most `max_wait` (the client's own timeout), then fails as
transient (ERATELIMIT): nothing was sent, so retrying it is safe.

Redis down is not an outage: each process then limits its own calls to the rate (they may
exceed it together), says so once, and tries Redis again after REDIS_RETRY_SECONDS.
"""

from __future__ import annotations

import math
import time

import structlog
from pyrate_limiter import (
    GCRA,
    InMemoryStateStore,
    Limiter,
    Rate,
    RedisStateStore,
    SingleBucketFactory,
    StateBucket,
    StateStore,
)
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from integrations.errors import TransientError

log = structlog.get_logger(__name__)

RATE_LIMITED = "ERATELIMIT"
REDIS_RETRY_SECONDS = 10.0
_CALLS_PER_INTERVAL = 1000
"""pyrate's rates are whole calls over whole milliseconds: 1000 calls over 1000/rate seconds
keeps the interval between two calls exact to the microsecond."""
_WAIT_BUFFER_MS = 1
"""Added to each wait; pyrate's default (50 ms) would slow a busy vendor below its rate."""


def redis_key(vendor: str) -> str:
    return f"rate-limit:{vendor}"


def vendor_rate(per_second: float) -> Rate:
    """`per_second` as a GCRA rate whose bucket holds one second's worth (at least one)."""
    interval_ms = math.ceil(_CALLS_PER_INTERVAL * 1000 / per_second)
    return Rate(_CALLS_PER_INTERVAL, interval_ms, burst=max(1, math.floor(per_second)))


def _limiter(rate: Rate, store: StateStore) -> Limiter:
    bucket = StateBucket([rate], GCRA(), store)
    return Limiter(SingleBucketFactory(bucket, schedule_leak=False), buffer_ms=_WAIT_BUFFER_MS)


class _VendorRateLimit:
    def __init__(
        self, vendor: str, per_second: float, redis: Redis | AsyncRedis, *, max_wait: float
    ) -> None:
        self.vendor = vendor
        self.per_second = per_second
        self._max_wait = max_wait
        rate = vendor_rate(per_second)
        self._shared = _limiter(rate, RedisStateStore(redis, redis_key(vendor)))
        self._local = _limiter(rate, InMemoryStateStore())
        self._redis_down_until: float | None = None

    def _redis_usable(self) -> bool:
        return self._redis_down_until is None or time.monotonic() >= self._redis_down_until

    def _note_redis_down(self, error: RedisError) -> None:
        if self._redis_down_until is None:
            log.warning(
                "Redis unavailable: each process limits its own calls to the vendor's rate",
                vendor=self.vendor,
                error=str(error),
            )
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS

    def _note_redis_up(self) -> None:
        if self._redis_down_until is not None:
            log.info("Redis is back: the vendor's rate is shared again", vendor=self.vendor)
        self._redis_down_until = None

    def _check(self, admitted: bool) -> None:
        if not admitted:
            raise TransientError(
                RATE_LIMITED,
                f"no turn within {self._max_wait:g} s under the {self.vendor} rate limit "
                f"({self.per_second:g} calls per second across all workers)",
            )


class VendorRateLimit(_VendorRateLimit):
    """For synchronous clients running in threads (simple-salesforce): a sync Redis client."""

    def __init__(self, vendor: str, per_second: float, redis: Redis, *, max_wait: float) -> None:
        super().__init__(vendor, per_second, redis, max_wait=max_wait)

    def take_turn(self) -> None:
        """Return when this call may go; TransientError ERATELIMIT after `max_wait`."""
        if self._redis_usable():
            try:
                admitted = self._shared.try_acquire(self.vendor, timeout=self._max_wait)
            except RedisError as error:
                self._note_redis_down(error)
            else:
                self._note_redis_up()
                self._check(bool(admitted))
                return
        self._check(bool(self._local.try_acquire(self.vendor, timeout=self._max_wait)))


class AsyncVendorRateLimit(_VendorRateLimit):
    """For asyncio clients (httpx): an asyncio Redis client."""

    def __init__(
        self, vendor: str, per_second: float, redis: AsyncRedis, *, max_wait: float
    ) -> None:
        super().__init__(vendor, per_second, redis, max_wait=max_wait)

    async def take_turn(self) -> None:
        """Return when this call may go; TransientError ERATELIMIT after `max_wait`."""
        if self._redis_usable():
            try:
                admitted = await self._shared.try_acquire_async(self.vendor, timeout=self._max_wait)
            except RedisError as error:
                self._note_redis_down(error)
            else:
                self._note_redis_up()
                self._check(admitted)
                return
        self._check(await self._local.try_acquire_async(self.vendor, timeout=self._max_wait))
