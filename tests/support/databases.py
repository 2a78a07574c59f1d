"""A throwaway database on the machine's real PostgreSQL, migrated, for one test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from integrations.config import DatabaseSettings
from integrations.database import apply_migrations

ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@asynccontextmanager
async def throwaway_database() -> AsyncIterator[DatabaseSettings]:
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(ADMIN_URL, dbname=name)
    try:
        async with await psycopg.AsyncConnection.connect(url) as connection:
            await apply_migrations(connection)
        yield DatabaseSettings(DATABASE_URL=url)
    finally:
        async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
            await admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
