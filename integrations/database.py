"""PostgreSQL access: one psycopg connection pool per process and versioned SQL migrations.

Migrations are the `migrations/NNNN_name.sql` files in this package, applied in order at
start-up, each in its own transaction, under an advisory lock so that several workers
starting together apply each file once.
"""

from __future__ import annotations

from importlib import resources

import structlog
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from integrations.config import DatabaseSettings

log = structlog.get_logger(__name__)

_MIGRATION_LOCK_ID = 0x706F7274616C  # "portal"


async def open_pool(settings: DatabaseSettings) -> AsyncConnectionPool:
    """Autocommit: a single statement is one round trip, not BEGIN, the statement and COMMIT
    (half the CPU and latency of a lookup); several statements that belong together say so with
    `connection.transaction()`."""
    pool = AsyncConnectionPool(
        settings.url,
        min_size=1,
        max_size=settings.pool_max_size,
        kwargs={"autocommit": True},
        open=False,
    )
    await pool.open(wait=True, timeout=15)
    return pool


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files("integrations") / "migrations"
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [(entry.name.removesuffix(".sql"), entry.read_text()) for entry in files]


def migration_names() -> list[str]:
    """The migrations this code brings, in order."""
    return [name for name, _ in _migration_files()]


async def apply_migrations(connection: AsyncConnection) -> list[str]:
    """Apply the migrations this database has not seen yet; return their names."""
    applied_now: list[str] = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_ID,))
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cursor = await connection.execute("SELECT name FROM schema_migrations")
        already_applied = {row[0] for row in await cursor.fetchall()}
        for name, sql in _migration_files():
            if name in already_applied:
                continue
            await connection.execute(sql.encode())
            await connection.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            applied_now.append(name)
    if applied_now:
        log.info("Database migrations applied", migrations=applied_now)
    return applied_now
