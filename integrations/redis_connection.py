"""How this service talks to Redis: short timeouts, so that a Redis outage is noticed in
seconds and the callers' fallbacks (in-memory replay id, direct Freebit auth) take over."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

TIMEOUT_SECONDS = 2.0


def redis_client(url: str) -> Redis:
    """One retry at most: a caller with a fallback is better served by a quick failure."""
    return Redis.from_url(
        url,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), retries=1),
    )
