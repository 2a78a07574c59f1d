"""`portalctl mappings ...`: which WHMCS client (and portal user) a Salesforce Account is
provisioned for, the `id_mappings` table, changed with an audit row and log line."""

from __future__ import annotations

import getpass
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from integrations.id_mapping_changes import (
    Actor,
    IdMappingChanges,
    MappingConflictError,
    MappingRow,
)
from integrations.salesforce.record_ids import account_id
from starters.cli.support import database_pool, fail, run

ResultT = TypeVar("ResultT")

mappings_app = typer.Typer(
    help="Salesforce Account <-> WHMCS client mappings (id_mappings).", no_args_is_help=True
)

AccountOption = Annotated[
    str, typer.Option("--account", help="Salesforce Account Id (15 or 18 characters)")
]
ClientOption = Annotated[int, typer.Option("--client", min=1, help="WHMCS client id")]
ReasonOption = Annotated[str | None, typer.Option(help="why, for the audit")]


@mappings_app.command("list")
def list_(
    account: Annotated[
        str | None, typer.Option("--account", help="only this Salesforce Account Id")
    ] = None,
    client: Annotated[int | None, typer.Option("--client", min=1, help="only this client")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the mappings as JSON")] = False,
) -> None:
    """Every mapping, or the one of an Account or a WHMCS client."""
    sf_account_id = _account(account) if account is not None else None
    rows = _with_changes(
        lambda changes: changes.list(sf_account_id=sf_account_id, whmcs_client_id=client)
    )
    if as_json:
        typer.echo(json.dumps([_json(row) for row in rows], indent=2))
        return
    table = Table("Account", "WHMCS client", "portal user", "updated", box=None)
    for row in rows:
        mapping = row.mapping
        table.add_row(
            mapping.sf_account_id or "-",
            str(mapping.whmcs_client_id),
            mapping.user_id,
            f"{row.updated_at:%Y-%m-%d %H:%M:%S %Z}",
        )
    Console(highlight=False).print(table, soft_wrap=False)
    typer.echo(f"{len(rows)} mapping(s)")


@mappings_app.command("add")
def add(
    account: AccountOption,
    client: ClientOption,
    user_id: Annotated[
        str | None,
        typer.Option("--user-id", help="portal user id; only when no portal user has the client"),
    ] = None,
    reason: ReasonOption = None,
) -> None:
    """Map an Account to a WHMCS client (then `portalctl order retry` its MAPPING orders)."""
    sf_account_id = _account(account)
    actor = _actor(reason)
    added = _with_changes(lambda changes: changes.add(sf_account_id, client, user_id, actor))
    if added is None:
        typer.echo(f"Account {sf_account_id} is already mapped to WHMCS client {client}")
        return
    typer.echo(
        f"Mapped Account {sf_account_id} to WHMCS client {client} (portal user {added.user_id})"
    )


@mappings_app.command("remove")
def remove(account: AccountOption, reason: ReasonOption = None) -> None:
    """Unlink an Account from its WHMCS client; the portal user's row stays."""
    sf_account_id = _account(account)
    actor = _actor(reason)
    removed = _with_changes(lambda changes: changes.remove(sf_account_id, actor))
    if removed is None:
        raise fail(f"Account {sf_account_id} is not mapped")
    typer.echo(
        f"Unlinked Account {sf_account_id} from WHMCS client {removed.whmcs_client_id}"
        f" (portal user {removed.user_id})"
    )


def _with_changes(action: Callable[[IdMappingChanges], Awaitable[ResultT]]) -> ResultT:
    async def with_pool() -> ResultT:
        async with database_pool() as pool:
            try:
                return await action(IdMappingChanges(pool))
            except MappingConflictError as conflict:
                raise fail(str(conflict)) from None

    return run(with_pool())


def _account(value: str) -> str:
    normalized = account_id(value)
    if normalized is None:
        raise fail(
            f"--account {value!r} is not a Salesforce Account Id (15 or 18 letters/digits"
            " starting 001)",
            exit_code=2,
        )
    return normalized


def _actor(reason: str | None) -> Actor:
    return Actor(name=getpass.getuser(), reason=reason)


def _json(row: MappingRow) -> dict[str, object]:
    return {**row.mapping.model_dump(), "updated_at": row.updated_at.isoformat()}
