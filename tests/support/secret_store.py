"""A database of its own for tests that change the secret store, so the session's shared
`integrations` keep the credentials the emulators accept; master keys; rotation clean-up."""

from __future__ import annotations

import base64
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import psycopg
from pydantic import SecretBytes, SecretStr
from temporalio.client import Client
from temporalio.service import RPCError

from contracts.rotation import CredentialKind, rotation_workflow_id
from integrations.config import DatabaseSettings, SecretsSettings
from integrations.database import apply_migrations
from starters.demo.local_services import fresh_database


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def secrets_settings(
    master_key: str | None = None,
    *,
    key_id: str = "k1",
    retired: dict[str, str] | None = None,
    refresh_interval: timedelta = timedelta(seconds=30),
) -> SecretsSettings:
    return SecretsSettings(
        master_key=SecretStr(master_key or new_master_key()),
        master_key_id=key_id,
        retired_master_keys={
            old_id: SecretBytes(base64.b64decode(key)) for old_id, key in (retired or {}).items()
        },
        refresh_interval=refresh_interval,
    )


@asynccontextmanager
async def own_database(admin_url: str) -> AsyncIterator[DatabaseSettings]:
    """A new, migrated database, dropped afterwards."""
    async with fresh_database(admin_url, f"portal_secrets_{uuid.uuid4().hex[:12]}") as url:
        async with await psycopg.AsyncConnection.connect(url) as connection:
            await apply_migrations(connection)
        yield DatabaseSettings(DATABASE_URL=url)


def empty_secret_store(database: DatabaseSettings) -> None:
    with psycopg.connect(database.url) as connection:
        connection.execute("TRUNCATE secret_versions")


async def end_rotations(client: Client) -> None:
    """Terminate rotations an earlier failed test left running (their ids are fixed)."""
    for kind in CredentialKind:
        handle = client.get_workflow_handle(rotation_workflow_id(kind))
        with contextlib.suppress(RPCError):  # not found, or not running: nothing to end
            await handle.terminate("test clean-up")
