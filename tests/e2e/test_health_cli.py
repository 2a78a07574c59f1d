"""`portalctl health [--json]`: every check once, with the production settings, no Temporal."""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner

from integrations.config import DatabaseSettings
from starters.cli.app import app
from starters.demo.local_vendors import LocalVendors
from tests.conftest import TEST_REDIS_URL

CHECKED = ["salesforce", "whmcs", "freebit", "redis", "database"]


@pytest.fixture
def environment(
    vendors: LocalVendors,
    database: DatabaseSettings,
    monkeypatch: pytest.MonkeyPatch,
    json_log: io.StringIO,
) -> None:
    """The emulators' settings, as an operator exports them; no SFTP host."""
    for name, value in vendors.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.delenv("SFTP_HOST", raising=False)


@pytest.mark.usefixtures("environment")
def test_json_lists_every_configured_system() -> None:
    outcome = CliRunner().invoke(app, ["health", "--json"])

    assert outcome.exit_code == 0, outcome.output
    report = json.loads(outcome.stdout)
    assert list(report) == CHECKED
    assert all(report[name]["status"] != "down" for name in CHECKED)
    assert report["salesforce"]["api_usage"]["limit"] == 15_000


@pytest.mark.usefixtures("environment")
def test_a_system_down_fails_the_command_and_shows_in_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")

    outcome = CliRunner().invoke(app, ["health"], env={"COLUMNS": "200"})

    assert outcome.exit_code == 1
    redis_row = next(line for line in outcome.stdout.splitlines() if "redis" in line)
    assert "down" in redis_row
    assert "Connection refused" in redis_row or "connecting" in redis_row
