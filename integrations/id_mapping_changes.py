"""Operators' changes to `id_mappings`: linking a Salesforce Account to the portal user and
WHMCS client it belongs to, and unlinking it, each with an audit row written in the same
transaction and an "Id mapping changed" log line.

A row of `id_mappings` is the portal's (portal user <-> WHMCS client); Salesforce's Account is
one column of it. So removing a mapping unlinks the Account and keeps the portal user's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from integrations.id_mappings import IdMapping

log = structlog.get_logger(__name__)


class MappingConflictError(ValueError):
    """The change would break the one-to-one link; the message names what is in the way."""


class MappingAction(StrEnum):
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True)
class MappingRow:
    mapping: IdMapping
    updated_at: datetime


@dataclass(frozen=True)
class Actor:
    """Who changes a mapping, and why, for the audit."""

    name: str
    reason: str | None = None


_COLUMNS = "user_id, whmcs_client_id, sf_account_id, updated_at"


class IdMappingChanges:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def list(
        self, *, sf_account_id: str | None = None, whmcs_client_id: int | None = None
    ) -> list[MappingRow]:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                f"SELECT {_COLUMNS} FROM id_mappings"
                " WHERE (%(account)s::text IS NULL OR sf_account_id = %(account)s)"
                " AND (%(client)s::int IS NULL OR whmcs_client_id = %(client)s)"
                " ORDER BY whmcs_client_id",
                {"account": sf_account_id, "client": whmcs_client_id},
            )
            return [_row(values) for values in await cursor.fetchall()]

    async def add(
        self, sf_account_id: str, whmcs_client_id: int, user_id: str | None, actor: Actor
    ) -> IdMapping | None:
        """Link the Account to the client's portal user (a new row needs `user_id`); None
        when exactly this link is there already."""
        async with self._pool.connection() as connection, connection.transaction():
            by_account = await _locked_row(connection, "sf_account_id", sf_account_id)
            by_client = await _locked_row(connection, "whmcs_client_id", whmcs_client_id)
            if by_account is not None:
                if by_account.whmcs_client_id == whmcs_client_id:
                    return None
                raise MappingConflictError(
                    f"Account {sf_account_id} is mapped to WHMCS client "
                    f"{by_account.whmcs_client_id} (portal user {by_account.user_id}): "
                    f"remove that mapping first"
                )
            after = await _link(connection, by_client, sf_account_id, whmcs_client_id, user_id)
            await _audit(connection, MappingAction.ADD, actor, before=by_client, after=after)
        _log_change(MappingAction.ADD, actor, before=by_client, after=after)
        return after

    async def remove(self, sf_account_id: str, actor: Actor) -> IdMapping | None:
        """Unlink the Account from its client; None when it was not mapped."""
        async with self._pool.connection() as connection, connection.transaction():
            before = await _locked_row(connection, "sf_account_id", sf_account_id)
            if before is None:
                return None
            await connection.execute(
                "UPDATE id_mappings SET sf_account_id = NULL, updated_at = now()"
                " WHERE user_id = %s",
                (before.user_id,),
            )
            after = before.model_copy(update={"sf_account_id": None})
            await _audit(connection, MappingAction.REMOVE, actor, before=before, after=after)
        _log_change(MappingAction.REMOVE, actor, before=before, after=after)
        return before


async def _link(
    connection: AsyncConnection,
    by_client: IdMapping | None,
    sf_account_id: str,
    whmcs_client_id: int,
    user_id: str | None,
) -> IdMapping:
    if by_client is not None:
        if by_client.sf_account_id is not None:
            raise MappingConflictError(
                f"WHMCS client {whmcs_client_id} is mapped to Account {by_client.sf_account_id}"
                f" (portal user {by_client.user_id}): remove that mapping first"
            )
        if user_id is not None and user_id != by_client.user_id:
            raise MappingConflictError(
                f"WHMCS client {whmcs_client_id} belongs to portal user {by_client.user_id},"
                f" not {user_id}"
            )
        await connection.execute(
            "UPDATE id_mappings SET sf_account_id = %s, updated_at = now() WHERE user_id = %s",
            (sf_account_id, by_client.user_id),
        )
        return by_client.model_copy(update={"sf_account_id": sf_account_id})
    if user_id is None:
        raise MappingConflictError(
            f"No portal user has WHMCS client {whmcs_client_id}: give --user-id (the portal"
            " user's id) to add one"
        )
    if await _locked_row(connection, "user_id", user_id) is not None:
        raise MappingConflictError(f"Portal user {user_id} has another WHMCS client")
    await connection.execute(
        "INSERT INTO id_mappings (user_id, whmcs_client_id, sf_account_id) VALUES (%s, %s, %s)",
        (user_id, whmcs_client_id, sf_account_id),
    )
    return IdMapping(user_id=user_id, whmcs_client_id=whmcs_client_id, sf_account_id=sf_account_id)


async def _locked_row(
    connection: AsyncConnection, column: str, value: str | int
) -> IdMapping | None:
    cursor = await connection.execute(
        f"SELECT {_COLUMNS} FROM id_mappings WHERE {column} = %s FOR UPDATE", (value,)
    )
    values = await cursor.fetchone()
    return None if values is None else _row(values).mapping


async def _audit(
    connection: AsyncConnection,
    action: MappingAction,
    actor: Actor,
    *,
    before: IdMapping | None,
    after: IdMapping,
) -> None:
    old = Jsonb(before.model_dump()) if before else None
    await connection.execute(
        "INSERT INTO id_mapping_audit (actor, action, reason, before, after)"
        " VALUES (%s, %s, %s, %s, %s)",
        (actor.name, action.value, actor.reason, old, Jsonb(after.model_dump())),
    )


def _log_change(
    action: MappingAction, actor: Actor, *, before: IdMapping | None, after: IdMapping
) -> None:
    log.info(
        "Id mapping changed",
        action=action.value,
        actor=actor.name,
        reason=actor.reason,
        before=before.model_dump() if before else None,
        after=after.model_dump(),
    )


def _row(values: tuple[str, int, str | None, datetime]) -> MappingRow:
    user_id, whmcs_client_id, sf_account_id, updated_at = values
    mapping = IdMapping(
        user_id=user_id, whmcs_client_id=whmcs_client_id, sf_account_id=sf_account_id
    )
    return MappingRow(mapping=mapping, updated_at=updated_at)
