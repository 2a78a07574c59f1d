"""`portalctl mappings list | add | remove` on PostgreSQL: validation, conflicts, the audit."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest

from integrations.config import DatabaseSettings
from starters.demo.local_services import fresh_database
from tests.conftest import DATABASE_ADMIN_URL
from tests.support.cli import invoke

ACCOUNT_15 = "001550V000WOQZi"
ACCOUNT_18 = "001550V000WOQZiACP"
"""The same Account: the UI's 15-character Id and the API's case-safe 18-character one."""
OTHER_ACCOUNT = "0015g00000AbCdEAAV"


@pytest.fixture
async def environment(database: DatabaseSettings) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(database.url) as connection:
        await connection.execute("TRUNCATE id_mappings, id_mapping_audit")
    return {"DATABASE_URL": database.url, "LOG_FORMAT": "json"}


async def mappings(environment: dict[str, str], *args: str) -> Any:
    return await invoke(["mappings", *args], environment)


async def listed(environment: dict[str, str]) -> list[dict[str, Any]]:
    outcome = await mappings(environment, "list", "--json")
    assert outcome.exit_code == 0, outcome.output
    return [
        {key: row[key] for key in ("user_id", "whmcs_client_id", "sf_account_id")}
        for row in json.loads(outcome.stdout)
    ]


async def audit(database: DatabaseSettings) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(database.url) as connection:
        cursor = await connection.execute(
            "SELECT actor, action, reason, before, after FROM id_mapping_audit ORDER BY id"
        )
        return await cursor.fetchall()


async def test_add_stores_the_18_character_id_and_audits_it(
    environment: dict[str, str], database: DatabaseSettings
) -> None:
    outcome = await mappings(
        environment,
        "add",
        "--account",
        ACCOUNT_15,
        "--client",
        "42",
        "--user-id",
        "portal-user-1",
        "--reason",
        "runbook: MAPPING",
    )

    assert outcome.exit_code == 0, outcome.output
    assert f"Mapped Account {ACCOUNT_18} to WHMCS client 42" in outcome.stdout
    added = {"user_id": "portal-user-1", "whmcs_client_id": 42, "sf_account_id": ACCOUNT_18}
    assert await listed(environment) == [added]
    [(actor, action, reason, before, after)] = await audit(database)
    assert (action, reason, before, after) == ("add", "runbook: MAPPING", None, added)
    assert actor
    log = next(json.loads(line) for line in outcome.output.splitlines() if "Id mapping" in line)
    assert (log["event"], log["action"], log["after"]) == ("Id mapping changed", "add", added)


async def test_add_links_the_portal_user_that_has_the_client(
    environment: dict[str, str], database: DatabaseSettings
) -> None:
    async with await psycopg.AsyncConnection.connect(database.url) as connection:
        await connection.execute(
            "INSERT INTO id_mappings (user_id, whmcs_client_id) VALUES ('portal-user-2', 43)"
        )

    outcome = await mappings(environment, "add", "--account", ACCOUNT_18, "--client", "43")
    again = await mappings(environment, "add", "--account", ACCOUNT_18, "--client", "43")

    assert outcome.exit_code == 0, outcome.output
    assert await listed(environment) == [
        {"user_id": "portal-user-2", "whmcs_client_id": 43, "sf_account_id": ACCOUNT_18}
    ]
    assert again.exit_code == 0
    assert "already mapped" in again.stdout
    assert len(await audit(database)) == 1


async def test_add_refuses_what_would_map_twice(environment: dict[str, str]) -> None:
    await mappings(environment, "add", "--account", ACCOUNT_18, "--client", "42", "--user-id", "u")

    other_client = await mappings(
        environment, "add", "--account", ACCOUNT_18, "--client", "44", "--user-id", "v"
    )
    other_account = await mappings(environment, "add", "--account", OTHER_ACCOUNT, "--client", "42")
    no_portal_user = await mappings(
        environment, "add", "--account", OTHER_ACCOUNT, "--client", "45"
    )

    assert other_client.exit_code == 1
    assert f"Account {ACCOUNT_18} is mapped to WHMCS client 42" in other_client.output
    assert other_account.exit_code == 1
    assert f"WHMCS client 42 is mapped to Account {ACCOUNT_18}" in other_account.output
    assert no_portal_user.exit_code == 1
    assert "give --user-id" in no_portal_user.output
    assert len(await listed(environment)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "801550V000WOQZi", "--client", "42"], "is not a Salesforce Account Id"),
        (["--account", "001550V000WOQZiAAA", "--client", "42"], "is not a Salesforce Account"),
        (["--account", ACCOUNT_18, "--client", "0"], "greater than or equal to 1"),
    ],
)
async def test_add_validates_the_ids(
    environment: dict[str, str], args: list[str], message: str
) -> None:
    outcome = await mappings(environment, "add", *args, "--user-id", "u")

    assert outcome.exit_code == 2
    assert message in outcome.output
    assert await listed(environment) == []


async def test_remove_unlinks_the_account_and_keeps_the_portal_user(
    environment: dict[str, str], database: DatabaseSettings
) -> None:
    await mappings(environment, "add", "--account", ACCOUNT_18, "--client", "42", "--user-id", "u")

    removed = await mappings(environment, "remove", "--account", ACCOUNT_15, "--reason", "wrong")
    again = await mappings(environment, "remove", "--account", ACCOUNT_18)

    assert removed.exit_code == 0, removed.output
    assert f"Unlinked Account {ACCOUNT_18} from WHMCS client 42" in removed.stdout
    assert await listed(environment) == [
        {"user_id": "u", "whmcs_client_id": 42, "sf_account_id": None}
    ]
    assert [row[1:3] for row in await audit(database)] == [("add", None), ("remove", "wrong")]
    assert again.exit_code == 1
    assert "is not mapped" in again.output


async def test_list_filters_by_account_and_client(environment: dict[str, str]) -> None:
    await mappings(environment, "add", "--account", ACCOUNT_18, "--client", "42", "--user-id", "u")
    await mappings(
        environment, "add", "--account", OTHER_ACCOUNT, "--client", "43", "--user-id", "v"
    )

    by_account = await mappings(environment, "list", "--account", ACCOUNT_15)
    by_client = await mappings(environment, "list", "--client", "43", "--json")

    assert by_account.exit_code == 0, by_account.output
    assert ACCOUNT_18 in by_account.stdout
    assert OTHER_ACCOUNT not in by_account.stdout
    assert [row["sf_account_id"] for row in json.loads(by_client.stdout)] == [OTHER_ACCOUNT]


async def test_a_database_without_the_migrations_is_one_line() -> None:
    async with fresh_database(DATABASE_ADMIN_URL, f"portal_test_{uuid.uuid4().hex[:12]}") as url:
        outcome = await invoke(["mappings", "list"], {"DATABASE_URL": url})

    assert outcome.exit_code == 1
    assert outcome.output.strip().endswith(
        "start a worker of this release first (it applies the database migrations)"
    )
    assert "Traceback" not in outcome.output
