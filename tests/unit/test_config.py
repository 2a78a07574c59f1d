from pathlib import Path

import pytest
from temporalio.service import TLSConfig
from typer.testing import CliRunner

from integrations.config import (
    ConfigurationError,
    DatabaseSettings,
    ProvisioningSettings,
    SimAccountSettings,
    WhmcsSettings,
    load,
)
from integrations.temporal import client_config
from starters.cli.app import app

WHMCS_ENV = {
    "WHMCS_API_URL": "https://billing.example.com/includes/api.php",
    "WHMCS_API_IDENTIFIER": "identifier",
    "WHMCS_API_SECRET": "s3cr3t-value",
}


def test_missing_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in WHMCS_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as raised:
        load(WhmcsSettings)
    assert str(raised.value) == "configuration error: WHMCS_API_URL is required"


def test_malformed_setting_names_the_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**WHMCS_ENV, "WHMCS_TIMEOUT": "soon"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=r"^configuration error: WHMCS_TIMEOUT: .*'soon'"):
        load(WhmcsSettings)


def test_aliased_setting_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", "0")
    with pytest.raises(ConfigurationError, match=r"^configuration error: DATABASE_POOL_MAX_SIZE: "):
        load(DatabaseSettings)


def test_secret_values_are_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_CLIENT_ID", "consumer")
    monkeypatch.setenv("SF_USERNAME", "user@example.com")
    monkeypatch.setenv("SF_PRIVATE_KEY_BASE64", "not base64 at all but secret")
    monkeypatch.setenv("PROVISION_MAX_ATTEMPTS", "0")
    with pytest.raises(ConfigurationError) as raised:
        load(ProvisioningSettings)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2_592_000), ("1h30m", 5400), ("250ms", 0.25), ("45", 45)]
)
def test_durations_read_as_operators_write_them(
    monkeypatch: pytest.MonkeyPatch, text: str, seconds: float
) -> None:
    monkeypatch.setenv("PROVISION_MANUAL_RETRY_WAIT", text)
    assert load(ProvisioningSettings).manual_retry_wait.total_seconds() == seconds


def test_cli_stops_with_one_line_and_exit_code_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_PROFILE", "staging")
    result = CliRunner().invoke(app, ["order", "start", "801000000000001AAA"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "configuration error: Temporal client: Profile 'staging' not found"
    ]


def test_temporal_client_settings_are_temporals_own(tmp_path: Path) -> None:
    """The `temporal` CLI's profile file, overridden by the environment; the earlier name of
    the CA variable still works."""
    profile = tmp_path / "temporal.toml"
    profile.write_text('[profile.prod]\naddress = "temporal.example:7233"\nnamespace = "mvno"\n')
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    environment = {
        "TEMPORAL_CONFIG_FILE": str(profile),
        "TEMPORAL_PROFILE": "prod",
        "TEMPORAL_NAMESPACE": "mvno-staging",
        "TEMPORAL_TLS_SERVER_CA_PATH": str(ca),
    }

    config = client_config(environment)

    assert config["target_host"] == "temporal.example:7233"
    assert config["namespace"] == "mvno-staging"
    tls = config["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert == ca.read_bytes()
    assert client_config({})["target_host"] == "localhost:7233"


def test_the_worker_requires_plan_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FREEBIT_PLAN_CODES", raising=False)
    with pytest.raises(ConfigurationError) as raised:
        load(SimAccountSettings)
    assert str(raised.value) == "configuration error: FREEBIT_PLAN_CODES is required"
