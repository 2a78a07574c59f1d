"""PostgreSQL (reachable, every migration applied), Redis (PING) and the SFTP host (host key
known, key authentication, SFTP_REMOTE_DIR listable), when SFTP_HOST is set."""

from __future__ import annotations

import asyncio

import psycopg
from redis.asyncio import Redis

from integrations import sftp
from integrations.config import DatabaseSettings, SftpSettings
from integrations.database import migration_names
from integrations.errors import AuthenticationError
from integrations.health.probes import DATABASE_CONNECT_TIMEOUT_SECONDS, ping_redis
from integrations.preflight.result import (
    CheckFailedError,
    CheckResult,
    CheckStatus,
    failed,
    run_check,
)
from integrations.secrets.provider import CredentialSource


async def database_checks(database: DatabaseSettings) -> list[CheckResult]:
    async def reachable() -> str:
        async with await psycopg.AsyncConnection.connect(
            database.url, connect_timeout=DATABASE_CONNECT_TIMEOUT_SECONDS
        ) as connection:
            await connection.execute("SELECT 1")
        return "SELECT 1 answered"

    async def migrated() -> str:
        async with await psycopg.AsyncConnection.connect(
            database.url, connect_timeout=DATABASE_CONNECT_TIMEOUT_SECONDS
        ) as connection:
            cursor = await connection.execute(
                "SELECT name FROM schema_migrations WHERE name = ANY(%s)", (migration_names(),)
            )
            applied = {row[0] for row in await cursor.fetchall()}
        missing = [name for name in migration_names() if name not in applied]
        if missing:
            raise CheckFailedError(f"not applied: {', '.join(missing)}")
        return f"all {len(applied)} migrations applied"

    return list(
        await asyncio.gather(
            run_check(
                "postgresql",
                "reachable",
                reachable,
                "check DATABASE_URL (host, port, user, password, database) and the network",
            ),
            run_check(
                "postgresql",
                "migrations applied",
                migrated,
                "start one worker (it applies the migrations at start-up), or fix DATABASE_URL",
            ),
        )
    )


async def redis_checks(redis: Redis) -> list[CheckResult]:
    async def ping() -> str:
        await ping_redis(redis)
        return "PING answered"

    return [await run_check("redis", "reachable", ping, "check REDIS_URL and the network")]


async def sftp_checks(settings: SftpSettings, key: CredentialSource | None) -> list[CheckResult]:
    return await asyncio.to_thread(_sftp_checks, settings, key)


def _sftp_checks(settings: SftpSettings, key: CredentialSource | None) -> list[CheckResult]:
    system = "sftp"
    host = f"{settings.host}:{settings.port}"
    host_key_fix = (
        f"add the host's key to SFTP_KNOWN_HOSTS_PATH ({settings.known_hosts_path}), "
        "after checking its fingerprint with the MVNO"
    )
    auth_fix = (
        f"authorize the active key's public half for {settings.username} on {host} "
        "(portalctl rotate), or correct SFTP_USERNAME"
    )
    dir_fix = "correct SFTP_REMOTE_DIR (the directory the MVNO uploads the monthly files to)"
    try:
        with sftp.connect(settings, key) as session:
            results = [
                _pass(system, "host key known", f"{host} matches {settings.known_hosts_path}"),
                _pass(system, "key authentication", f"{settings.username} authenticated"),
            ]
            try:
                names = _list_remote_dir(session, settings)
            except Exception as error:  # the directory's failure is this check's result
                results.append(failed(system, "remote directory listable", str(error), dir_fix))
            else:
                results.append(
                    _pass(
                        system,
                        "remote directory listable",
                        f"{settings.remote_dir or '.'}: {len(names)} entries",
                    )
                )
            return results
    except sftp.HostKeyRejectedError as error:
        not_checked = "not checked: the host key was rejected"
        return [
            failed(system, "host key known", str(error), host_key_fix),
            failed(system, "key authentication", not_checked, host_key_fix),
            failed(system, "remote directory listable", not_checked, host_key_fix),
        ]
    except AuthenticationError as error:
        return [
            _pass(system, "host key known", f"{host} matches {settings.known_hosts_path}"),
            failed(system, "key authentication", str(error), auth_fix),
            failed(system, "remote directory listable", "not checked: no session", auth_fix),
        ]
    except Exception as error:  # unreachable: every check fails with the same cause
        fix = "check SFTP_HOST, SFTP_PORT and the firewall"
        return [
            failed(system, name, str(error), fix)
            for name in ("host key known", "key authentication", "remote directory listable")
        ]


def _list_remote_dir(session: sftp.SftpSession, settings: SftpSettings) -> list[str]:
    """The names in SFTP_REMOTE_DIR (a listing, as an import's look needs to find files)."""
    directory = settings.remote_dir or "."
    try:
        return session.list_remote_dir()
    except FileNotFoundError:
        raise CheckFailedError(f"SFTP_REMOTE_DIR {directory} does not exist there") from None
    except PermissionError:
        raise CheckFailedError(f"SFTP_REMOTE_DIR {directory} may not be listed") from None


def _pass(system: str, name: str, detail: str) -> CheckResult:
    return CheckResult(system=system, name=name, status=CheckStatus.PASS, detail=detail)
