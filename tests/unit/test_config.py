import pytest
from typer.testing import CliRunner

from integrations.config import ConfigurationError, DatabaseSettings, WhmcsSettings, load
from starters.cli.app import app
from starters.provisioning import ProvisioningSettings

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
    monkeypatch.setenv("PROVISION_MAX_ATTEMPTS", "many")
    result = CliRunner().invoke(app, ["order", "start", "801000000000001AAA"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "configuration error: PROVISION_MAX_ATTEMPTS: Input should be a valid integer, "
        "unable to parse string as an integer (got 'many')"
    ]
