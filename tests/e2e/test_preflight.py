"""`portalctl preflight`: every check passes against the emulators, and each broken vendor
contract fails its own named check, with its fix, without stopping the others."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from emulators.sftp import SftpEmulator
from emulators.whmcs import DEFAULT_CREDENTIAL
from emulators.whmcs.records import ApiCredential
from integrations.config import DatabaseSettings
from starters.cli.app import app
from starters.demo.local_vendors import LocalVendors
from tests.conftest import TEST_REDIS_URL

SECRET_NAMES = ("WHMCS_API_SECRET", "FREEBIT_OEM_KEY", "SECRETS_MASTER_KEY")


@pytest.fixture
def environment(
    vendors: LocalVendors,
    database: DatabaseSettings,
    monkeypatch: pytest.MonkeyPatch,
    json_log: io.StringIO,
) -> dict[str, str]:
    """The emulators' settings, as an operator exports them; no SFTP host."""
    values = {
        **vendors.environment(),
        "DATABASE_URL": database.url,
        "REDIS_URL": TEST_REDIS_URL,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SFTP_HOST", raising=False)
    return values


def preflight(*args: str) -> tuple[int, dict[str, Any], str]:
    outcome = CliRunner().invoke(app, ["preflight", "--json", *args])
    report = json.loads(outcome.stdout)
    return outcome.exit_code, report, outcome.stdout


def check(report: dict[str, Any], system: str, name: str) -> dict[str, Any]:
    found = [c for c in report["checks"] if c["system"] == system and c["name"] == name]
    assert len(found) == 1, (system, name, report)
    result: dict[str, Any] = found[0]
    return result


def failures(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["name"]) for c in report["checks"] if c["status"] == "fail"}


def test_every_check_passes_against_the_emulators_and_no_secret_is_printed(
    environment: dict[str, str], vendors: LocalVendors
) -> None:
    private_key = vendors.salesforce_settings.private_key_path
    assert private_key is not None
    earlier = {client["client_id"] for client in vendors.salesforce.cometd_clients()}

    status, report, output = preflight()

    assert status == 0, output
    assert report["ok"] is True
    assert failures(report) == set()
    assert {c["system"] for c in report["checks"]} == {
        "salesforce",
        "whmcs",
        "freebit",
        "postgresql",
        "redis",
    }
    assert "8.13.1" in check(report, "whmcs", "version (WhmcsDetails)")["detail"]
    assert check(report, "whmcs", "AddOrder allowed")["status"] == "skipped"
    assert "--with-test-order" in check(report, "whmcs", "AcceptOrder allowed")["detail"]
    channel = check(report, "salesforce", "Platform Event channel")
    assert channel["status"] == "pass"
    assert "Pub/Sub API GetTopic" in channel["detail"]  # the default transport
    remaining = {client["client_id"] for client in vendors.salesforce.cometd_clients()}
    assert remaining <= earlier  # its own client disconnected again
    for name in SECRET_NAMES:
        assert environment[name] not in output
    key_lines = private_key.read_text().splitlines()[1:-1]
    assert all(line not in output for line in key_lines)


def test_the_table_names_each_check_and_its_fix(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")

    outcome = CliRunner().invoke(app, ["preflight"], env={"COLUMNS": "250"})

    assert outcome.exit_code == 1
    redis_row = next(line for line in outcome.stdout.splitlines() if "redis" in line)
    assert "fail" in redis_row
    assert "REDIS_URL" in redis_row
    assert environment["WHMCS_API_SECRET"] not in outcome.stdout


def test_an_audience_salesforce_refuses_fails_the_login_with_its_fix(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_AUDIENCE", "https://portal.my.salesforce.com")

    status, report, _ = preflight()

    assert status == 1
    login = check(report, "salesforce", "JWT login")
    assert login["status"] == "fail"
    assert "audience is invalid" in login["detail"]
    assert "SF_AUDIENCE" in login["fix"]
    assert check(report, "whmcs", "GetOrders allowed")["status"] == "pass"  # not stopped


def test_a_missing_and_a_read_only_field_are_named(
    environment: dict[str, str], vendors: LocalVendors
) -> None:
    vendors.salesforce.change_field("Product2", "Billing_Cycle__c", exists=False)
    vendors.salesforce.change_field("OrderItem", "WHMCS_Service_ID__c", updateable=False)

    status, report, _ = preflight()

    assert status == 1
    assert failures(report) == {
        ("salesforce", "Product2 fields"),
        ("salesforce", "OrderItem fields"),
    }
    assert "missing: Billing_Cycle__c" in check(report, "salesforce", "Product2 fields")["detail"]
    item_fields = check(report, "salesforce", "OrderItem fields")
    assert "not updateable by the integration user: WHMCS_Service_ID__c" in item_fields["detail"]
    assert "Edit" in item_fields["fix"]


def test_an_error_code_field_too_short_for_salesforce_codes_is_named(
    environment: dict[str, str], vendors: LocalVendors
) -> None:
    vendors.salesforce.change_field("Order", "Activation_Error_Code__c", length=20)

    status, report, _ = preflight()

    assert status == 1
    assert failures(report) == {("salesforce", "Activation_Error_Code__c length")}
    length = check(report, "salesforce", "Activation_Error_Code__c length")
    assert "Activation_Error_Code__c is 20 long, needs 80" in length["detail"]
    assert "Text(80)" in length["fix"]


def test_an_action_the_api_role_denies_is_named_with_its_fix(
    environment: dict[str, str], vendors: LocalVendors
) -> None:
    vendors.whmcs.set_credentials(
        ApiCredential(
            identifier=DEFAULT_CREDENTIAL.identifier,
            secret=DEFAULT_CREDENTIAL.secret,
            denied_actions=["GetOrders", "GetPayMethods"],
        )
    )

    status, report, _ = preflight()

    assert status == 1
    assert failures(report) == {("whmcs", "GetOrders allowed"), ("whmcs", "GetPayMethods allowed")}
    assert check(report, "whmcs", "GetOrders allowed")["fix"] == (
        "allow GetOrders in the API role of this API credential"
    )


def test_the_test_order_round_trips_its_marker_and_is_cancelled(
    environment: dict[str, str], vendors: LocalVendors
) -> None:
    client = vendors.whmcs.create_client()
    vendors.whmcs.add_product("SIM 5GB")

    status, report, output = preflight("--with-test-order", "--test-client-id", str(client.id))

    assert status == 0, output
    assert (
        "WHMCS_ORDER_MARKER=notes works"
        in check(report, "whmcs", "order marker round trip")["detail"]
    )
    assert check(report, "whmcs", "AcceptOrder allowed")["status"] == "pass"
    (order,) = vendors.whmcs.orders(client.id)
    assert order.status == "Cancelled"
    assert order.notes.startswith("sfOrderId=PREFLIGHT-")
    assert "PREFLIGHT TEST ORDER" in order.notes
    assert f"test order {order.id} cancelled" in output


def test_an_installation_that_drops_order_notes_fails_the_marker_round_trip(
    environment: dict[str, str], vendors: LocalVendors
) -> None:
    client = vendors.whmcs.create_client()
    vendors.whmcs.add_product("SIM 5GB")
    vendors.whmcs.set_store_order_notes(False)

    status, report, _ = preflight("--with-test-order", "--test-client-id", str(client.id))

    assert status == 1
    assert failures(report) == {("whmcs", "order marker round trip")}
    assert check(report, "whmcs", "order marker round trip")["fix"].startswith(
        "set WHMCS_ORDER_MARKER=none"
    )
    assert [order.status for order in vendors.whmcs.orders(client.id)] == ["Cancelled"]


def test_with_test_order_needs_a_client() -> None:
    outcome = CliRunner().invoke(app, ["preflight", "--with-test-order"])

    assert outcome.exit_code == 2
    assert "--test-client-id" in outcome.output


def test_a_refused_freebit_login_is_named(
    environment: dict[str, str], vendors: LocalVendors
) -> None:
    vendors.freebit.set_oem_credentials(vendors.freebit_settings.oem_id, "another-oem-key")

    status, report, _ = preflight()

    assert status == 1
    assert ("freebit", "OEM login") in failures(report)
    assert "FREEBIT_OEM_ID" in check(report, "freebit", "OEM login")["fix"]
    assert not any(system != "freebit" for system, _ in failures(report))


def test_an_invalid_auth_key_code_missing_from_the_setting_is_named(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FREEBIT_AUTH_KEY_REJECTED_CODES", "299")

    status, report, _ = preflight()

    assert status == 1
    assert failures(report) == {("freebit", "invalid authKey code")}
    result = check(report, "freebit", "invalid authKey code")
    assert "not one of FREEBIT_AUTH_KEY_REJECTED_CODES (299)" in result["detail"]
    assert "FREEBIT_AUTH_KEY_REJECTED_CODES" in result["fix"]


@pytest.mark.parametrize("transport", ["pubsub", "cometd"])
def test_a_platform_event_channel_that_cannot_be_subscribed_is_named(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    monkeypatch.setenv("SF_EVENTS_TRANSPORT", transport)
    monkeypatch.setenv("SF_PROVISION_EVENT_CHANNEL", "/event/NoSuchEvent__e")

    status, report, _ = preflight()

    assert status == 1
    assert failures(report) == {("salesforce", "Platform Event channel")}
    assert (
        "SF_PROVISION_EVENT_CHANNEL" in check(report, "salesforce", "Platform Event channel")["fix"]
    )


def test_a_wrong_sftp_directory_fails_only_the_listing(
    environment: dict[str, str], sftp: SftpEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in sftp.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SFTP_REMOTE_DIR", "no-such-dir")

    status, report, _ = preflight()

    assert status == 1
    assert failures(report) == {("sftp", "remote directory listable")}
    assert check(report, "sftp", "host key known")["status"] == "pass"
    assert check(report, "sftp", "key authentication")["status"] == "pass"
    assert "SFTP_REMOTE_DIR" in check(report, "sftp", "remote directory listable")["fix"]
