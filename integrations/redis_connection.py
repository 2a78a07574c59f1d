"""How this service talks to Redis: short timeouts, so that a Redis outage is noticed in
seconds and the callers' fallbacks (in-memory replay id, direct Freebit auth, each process's
own vendor rate limit) take over."""

from __future__ import annotations

import redis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

TIMEOUT_SECONDS = 2.0


def redis_client(url: str) -> Redis:
    """One retry at most: a caller with a fallback is better served by a quick failure."""
    return Redis.from_url(
        url,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), retries=1),
    )


def sync_redis_client(url: str) -> redis.Redis:
    """The same for code running in threads (the Salesforce client's rate limit)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=SyncRetry(NoBackoff(), retries=1),
    )
