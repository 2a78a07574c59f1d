"""The Freebit authKey, shared by every worker and process through Redis.

The key is `freebit:auth:token` (the seed's: `redis-cli GET "freebit:auth:token"`, and
`DEL` it after an OEM key rotation). On a miss, a Redis lock lets one caller authenticate
while the others wait for it and then read what it stored.

Redis down is not an outage (seed: "Redis down -> direct API calls (no cache)"): the
cache then keeps the authKey in this process only, and tries Redis again after
`redis_retry_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from integrations.metrics import FREEBIT_TOKEN_CACHE

log = structlog.get_logger(__name__)

TOKEN_KEY = "freebit:auth:token"
LOCK_KEY = "freebit:auth:lock"
LOCK_POLL_SECONDS = 0.05
_DELETE_IF_HOLDS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

Authenticate = Callable[[], Awaitable[str]]


class FreebitTokenCache:
    """`hits` counts authKeys served from a cache, `misses` the authentications it caused
    (also counted in `portal_freebit_token_cache_total` for /metrics)."""

    def __init__(
        self,
        redis: Redis | None,
        ttl: timedelta,
        *,
        lock_timeout: timedelta = timedelta(seconds=30),
        lock_wait: timedelta = timedelta(seconds=10),
        redis_retry_interval: timedelta = timedelta(seconds=10),
    ) -> None:
        """`lock_timeout` frees the lock of a caller that died; keep it above the HTTP timeout.
        `lock_wait` is how long the others wait before authenticating by themselves."""
        self._redis = redis
        self._ttl = ttl
        self._lock_timeout = lock_timeout
        self._lock_wait = lock_wait
        self._redis_retry_interval = redis_retry_interval
        self._redis_down_until: float | None = None
        self._local_key: str | None = None
        self._local_key_expires_at = 0.0
        self._local_lock = asyncio.Lock()
        self.hits = 0
        self.misses = 0

    async def auth_key(self, authenticate: Authenticate) -> str:
        """A cached authKey, or a new one from `authenticate` stored for everyone."""
        redis = self._usable_redis()
        if redis is not None:
            try:
                auth_key = await self._shared_auth_key(redis, authenticate)
            except RedisError as error:
                self._note_redis_down(error)
            else:
                self._note_redis_up()
                return auth_key
        return await self._local_auth_key(authenticate)

    async def invalidate(self, auth_key: str) -> None:
        """Forget `auth_key`, leaving alone a newer one another caller already stored."""
        if self._local_key == auth_key:
            self._local_key = None
        redis = self._usable_redis()
        if redis is None:
            return
        try:
            await redis.eval(_DELETE_IF_HOLDS, 1, TOKEN_KEY, auth_key)
        except RedisError as error:
            self._note_redis_down(error)

    async def peek(self) -> str | None:
        """The authKey a call would use now, if one is cached (not counted as a hit)."""
        redis = self._usable_redis()
        if redis is not None:
            try:
                cached = await redis.get(TOKEN_KEY)
            except RedisError as error:
                self._note_redis_down(error)
            else:
                return _text(cached)
        if self._local_key is not None and time.monotonic() < self._local_key_expires_at:
            return self._local_key
        return None

    async def clear(self) -> None:
        """Forget whatever authKey is cached (after the OEM key changed).

        Unlike the other methods this raises RedisError when Redis is down: a rotation must
        not go on believing the old authKey is gone."""
        self._local_key = None
        if self._redis is not None:
            await self._redis.delete(TOKEN_KEY)

    async def _shared_auth_key(self, redis: Redis, authenticate: Authenticate) -> str:
        cached = await self._cached(redis)
        if cached is not None:
            return cached
        lock = Lock(
            redis,
            LOCK_KEY,
            timeout=self._lock_timeout.total_seconds(),
            sleep=LOCK_POLL_SECONDS,
            blocking_timeout=self._lock_wait.total_seconds(),
        )
        acquired = await lock.acquire()
        try:
            # Whoever held the lock before us has probably stored a key meanwhile.
            cached = await self._cached(redis)
            if cached is not None:
                return cached
            auth_key = await self._authenticate(authenticate)
            await redis.set(TOKEN_KEY, auth_key, px=self._ttl_milliseconds())
            return auth_key
        finally:
            if acquired:
                await _release(lock)

    async def _cached(self, redis: Redis) -> str | None:
        cached = _text(await redis.get(TOKEN_KEY))
        if cached is None:
            return None
        self.hits += 1
        FREEBIT_TOKEN_CACHE.labels(result="hit").inc()
        return cached

    async def _local_auth_key(self, authenticate: Authenticate) -> str:
        async with self._local_lock:
            if self._local_key is not None and time.monotonic() < self._local_key_expires_at:
                self.hits += 1
                FREEBIT_TOKEN_CACHE.labels(result="hit").inc()
                return self._local_key
            return await self._authenticate(authenticate)

    async def _authenticate(self, authenticate: Authenticate) -> str:
        """Authenticate and keep the key in this process too, for when Redis goes away."""
        self.misses += 1
        FREEBIT_TOKEN_CACHE.labels(result="miss").inc()
        auth_key = await authenticate()
        self._local_key = auth_key
        self._local_key_expires_at = time.monotonic() + self._ttl.total_seconds()
        return auth_key

    def _ttl_milliseconds(self) -> int:
        return max(int(self._ttl.total_seconds() * 1000), 1)

    def _usable_redis(self) -> Redis | None:
        if self._redis_down_until is not None and time.monotonic() < self._redis_down_until:
            return None
        return self._redis

    def _note_redis_down(self, error: RedisError) -> None:
        if self._redis_down_until is None:
            log.warning(
                "Redis unavailable: Freebit auth falls back to direct calls without the cache",
                error=str(error),
            )
        self._redis_down_until = time.monotonic() + self._redis_retry_interval.total_seconds()

    def _note_redis_up(self) -> None:
        if self._redis_down_until is not None:
            log.info("Redis is back: Freebit auth uses the shared cache again")
        self._redis_down_until = None


async def _release(lock: Lock) -> None:
    # LockError: it expired (we were slower than lock_timeout); someone else may hold it now.
    with contextlib.suppress(LockError):
        await lock.release()


def _text(cached: bytes | str | None) -> str | None:
    """The cached value as text; None for nothing, and for a value someone wrote by hand
    that is no authKey (empty, or no text): logged, then replaced by a new login's key."""
    try:
        text = cached.decode() if isinstance(cached, bytes) else cached
    except UnicodeDecodeError:
        text = ""
    if text is not None and not text.strip():
        log.error("Cached Freebit authKey unusable", key=TOKEN_KEY, problem="empty or not text")
        return None
    return text
