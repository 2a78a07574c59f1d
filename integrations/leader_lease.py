"""A leader lease in Redis with a fencing token: of several processes that could do one job,
the one holding the lease does it, and a write it makes counts only while it still holds it.

Hand-written (three Lua scripts) because the Redis locks on PyPI (redis-py's `Lock`,
python-redis-lock, pottery's Redlock, aioredlock) hold a lock but issue no fencing token and
cannot make another write conditional on still holding the lock, which is what stops a
leader that was frozen or cut off from writing after another one took over (Kleppmann, "How
to do distributed locking", 2016). Redis runs each script atomically
(https://redis.io/docs/latest/develop/programmability/eval-intro/), so "still the holder?"
and the write are one step.

`<key>` holds `<token> <holder>` and expires after the TTL unless renewed; `<key>:token`
counts the terms (INCR), so every term has a larger token than the one before, as long as
Redis keeps its data. The fence compares the whole value, so even a Redis that lost its data
(and restarts the count) never lets an earlier holder write: its holder id is random.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
return token
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_SET_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


def holder_id() -> str:
    """Names this process in the lease (the host for people, a random part for uniqueness)."""
    return f"{socket.gethostname()}:{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Term:
    """One holder's hold of the lease, from acquiring it until it is lost or released."""

    key: str
    token: int
    holder: str

    @property
    def value(self) -> str:
        return f"{self.token} {self.holder}"


class LeaderLease:
    """The lease `key` in `redis`, as seen by `holder`. Every method may raise `RedisError`."""

    def __init__(self, redis: Redis, key: str, holder: str, ttl: timedelta) -> None:
        self._redis = redis
        self.key = key
        self.holder = holder
        self._ttl_ms = str(int(ttl.total_seconds() * 1000))

    async def acquire(self) -> Term | None:
        """A new term if nobody holds the lease, else None."""
        token = await self._redis.eval(
            _ACQUIRE, 2, self.key, f"{self.key}:token", self.holder, self._ttl_ms
        )
        return None if token is None else Term(self.key, int(token), self.holder)

    async def renew(self, term: Term) -> bool:
        """Extend `term` by the TTL; False when it is over (expired, or another holds it)."""
        renewed = await self._redis.eval(_RENEW, 1, self.key, term.value, self._ttl_ms)
        return bool(renewed)

    async def release(self, term: Term) -> None:
        """End `term` now, so that another can take over without waiting for the TTL."""
        await self._redis.eval(_RELEASE, 1, self.key, term.value)

    async def holder_of_lease(self) -> str | None:
        """`<token> <holder>` of whoever holds the lease now."""
        value = await self._redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value


async def set_if_held(redis: Redis, term: Term, key: str, value: bytes | str) -> bool:
    """SET `key` to `value` only while `term` holds its lease, atomically; False: not written."""
    written = await redis.eval(_SET_IF_HELD, 2, term.key, key, term.value, value)
    return bool(written)


class LeaseLostError(Exception):
    """A fenced write was refused: another holder has the lease, or it expired."""


@dataclass(frozen=True)
class Fence:
    """Writes made during one term. `term` None: acting without the lease (Redis did not
    answer when the term began), so nothing may be written."""

    term: Term | None

    async def write(self, redis: Redis, key: str, value: bytes | str) -> bool:
        """True: written; False: no lease, kept by the caller; raises `LeaseLostError`."""
        if self.term is None:
            return False
        if await set_if_held(redis, self.term, key, value):
            return True
        raise LeaseLostError(f"{key} not written: lease {self.term.key} no longer held")
