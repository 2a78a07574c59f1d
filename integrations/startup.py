"""Start-up dependency checks with a bounded, logged retry.

`portalctl worker` and `portalctl bridge` need PostgreSQL and Temporal before they can do
anything: each is tried until STARTUP_RETRY_DEADLINE has passed (exponential backoff, one
warning line per failed attempt), then the process stops with one `StartupError` line naming
the setting and what failed (connection refused, authentication failed, TLS handshake
failed, timed out, ...), never the password of a URL. A failure that waiting cannot fix
(authentication, TLS, a missing database) stops at once.

Redis is not required: its callers have fallbacks (in-memory replay id, direct Freebit
login), so unreachable Redis is one warning line; a Redis that refuses the credentials of
REDIS_URL is a configuration mistake and stops the process. Vendors are never checked here:
their workflows retry, and /health reports them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.conninfo
import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from contracts.durations import Duration
from integrations.config import load

log = structlog.get_logger(__name__)

STARTUP_EXIT_CODE = 3
"""A required dependency stayed unreachable (or refused us) at start-up; 2 is a bad setting."""

ResultT = TypeVar("ResultT")


class StartupSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    retry_deadline: Duration = Field(
        default=timedelta(seconds=60),
        validation_alias="STARTUP_RETRY_DEADLINE",
        description="how long a required dependency is retried at start-up before giving up",
    )

    @property
    def attempt_timeout(self) -> float:
        """One attempt's limit: the deadline, within 2 to 10 seconds."""
        return min(10.0, max(2.0, self.retry_deadline.total_seconds()))


class StartupError(Exception):
    """A required dependency failed at start-up; `str()` is the one line to print."""

    def __init__(self, setting: str, what_failed: str, target: str = "") -> None:
        self.setting = setting
        self.what_failed = what_failed
        self.target = target
        shown = f" ({target})" if target else ""
        super().__init__(f"start-up failed: {setting}{shown}: {what_failed}")


@dataclass(frozen=True)
class Failure:
    what: str
    transient: bool


_PERMANENT: tuple[tuple[tuple[str, ...], str], ...] = (
    (("certificate", "ssl", "tls", "handshake", "invalidcontenttype"), "TLS handshake failed"),
    (
        (
            "password authentication failed",
            "authentication",
            "no pg_hba.conf entry",
            "wrongpass",
            "invalid username-password",
            "noauth",
            "unauthenticated",
            "permission denied",
        ),
        "authentication failed",
    ),
)
_TRANSIENT: tuple[tuple[tuple[str, ...], str], ...] = (
    (("connection refused", "connect call failed", "errno 111"), "connection refused"),
    (("timed out", "timeout", "deadline exceeded"), "timed out"),
    (
        (
            "name or service not known",
            "nodename nor servname",
            "name resolution",
            "could not translate host name",
            "failed to lookup address",
            "dns error",
        ),
        "host name not resolved",
    ),
    (("starting up", "shutting down"), "server not ready"),
)


def classify(error: BaseException) -> Failure:
    """What failed, in a few words that never quote the error (it may carry a secret)."""
    if isinstance(error, TimeoutError):
        return Failure("timed out", transient=True)
    if isinstance(error, AuthenticationError):
        return Failure("authentication failed", transient=False)
    text = f"{type(error).__name__} {error}".lower()
    if "role" in text and "does not exist" in text:
        return Failure("authentication failed (no such role)", transient=False)
    if "database" in text and "does not exist" in text:
        return Failure("database does not exist", transient=False)
    for needles, what in _TRANSIENT[:1]:  # "refused" wins over TLS words in the same text
        if any(needle in text for needle in needles):
            return Failure(what, transient=True)
    for needles, what in _PERMANENT:
        if any(needle in text for needle in needles):
            return Failure(what, transient=False)
    for needles, what in _TRANSIENT[1:]:
        if any(needle in text for needle in needles):
            return Failure(what, transient=True)
    return Failure(f"unreachable ({type(error).__name__})", transient=True)


def without_password(url: str) -> str:
    """The URL (or libpq key=value string) as it may be shown: user, host, port and path,
    never a password or query parameters."""
    if "://" not in url:
        return _conninfo_without_password(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    user = f"{parts.username}@" if parts.username else ""
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))


def _conninfo_without_password(conninfo: str) -> str:
    try:
        values = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable connection string>"
    shown = {key: values[key] for key in ("host", "port", "dbname", "user") if key in values}
    return " ".join(f"{key}={value}" for key, value in shown.items())


async def with_retry(
    setting: str,
    target: str,
    attempt: Callable[[], Awaitable[ResultT]],
    settings: StartupSettings,
) -> ResultT:
    """`attempt()` until it succeeds, a permanent failure, or the deadline; else StartupError.
    Each attempt is limited to `settings.attempt_timeout`."""

    def is_transient(error: BaseException) -> bool:
        return classify(error).transient

    def log_attempt(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "Start-up dependency not available yet, retrying",
            setting=setting,
            target=target,
            failure=classify(error).what if error else "unknown",
            attempt=state.attempt_number,
            retry_in=round(state.upcoming_sleep, 1),
        )

    async def limited() -> ResultT:
        return await asyncio.wait_for(attempt(), settings.attempt_timeout)

    retrying = AsyncRetrying(
        stop=stop_after_delay(settings.retry_deadline.total_seconds()),
        wait=wait_exponential(multiplier=0.5, max=10),
        retry=retry_if_exception(is_transient),
        before_sleep=log_attempt,
        reraise=True,
    )
    try:
        return await retrying(limited)
    except Exception as error:  # classified into one line, never re-raised
        failure = classify(error)
        attempts = retrying.statistics.get("attempt_number", 1)
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        raise StartupError(setting, f"{failure.what}{tried}", target) from None


async def require_database(url: str, settings: StartupSettings) -> None:
    """PostgreSQL at DATABASE_URL accepts a connection and a query."""

    async def connect() -> None:
        timeout = max(2, int(settings.attempt_timeout))
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=timeout) as db:
            await db.execute("SELECT 1")

    await with_retry("DATABASE_URL", without_password(url), connect, settings)


async def report_redis(url: str, settings: StartupSettings) -> None:
    """One attempt: unreachable Redis is a warning (its callers fall back); refused
    credentials or TLS are a StartupError naming REDIS_URL."""
    client = Redis.from_url(
        url, socket_timeout=settings.attempt_timeout, socket_connect_timeout=2.0
    )
    try:
        await asyncio.wait_for(client.ping(), settings.attempt_timeout)
    except (RedisError, OSError, TimeoutError) as error:
        failure = classify(error)
        if not failure.transient:
            raise StartupError("REDIS_URL", failure.what, without_password(url)) from None
        log.warning(
            "Redis not available at start-up: starting with its fallbacks",
            setting="REDIS_URL",
            target=without_password(url),
            failure=failure.what,
        )
    finally:
        await client.aclose()


async def check_dependencies(database_url: str, redis_url: str) -> StartupSettings:
    """The worker's and the bridge's start-up checks before Temporal (which their own
    client connection retries, with the StartupSettings returned)."""
    settings = load(StartupSettings)
    await require_database(database_url, settings)
    await report_redis(redis_url, settings)
    return settings
