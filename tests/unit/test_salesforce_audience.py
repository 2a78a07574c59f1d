"""The JWT assertion's audience (SF_AUDIENCE) is not the token endpoint's host (SF_LOGIN_URL):
Salesforce accepts https://login.salesforce.com, https://test.salesforce.com or an Experience
Cloud site URL ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration")."""

from __future__ import annotations

import pytest

from integrations.config import (
    ConfigurationError,
    SalesforceSettings,
    default_jwt_audience,
    load,
)

SALESFORCE_ENV = {
    "SF_CLIENT_ID": "3MVG9portalworkflowstest",
    "SF_USERNAME": "integration@portal.example",
    "SF_PRIVATE_KEY_BASE64": "cGVt",
}


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("https://test.salesforce.com/", "https://test.salesforce.com"),
        # A production org's My Domain login URL: the token comes from there, aud stays login.
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        # Sandbox My Domain login URLs, enhanced domains and the older format.
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://ACME--UAT.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://acme--uat.my.salesforce.com", "https://test.salesforce.com"),
        # The emulators (make demo, tests) and anything else: production's.
        ("https://127.0.0.1:8443", "https://login.salesforce.com"),
        ("https://emulators:8443", "https://login.salesforce.com"),
    ],
)
def test_default_audience_follows_the_login_url(login_url: str, audience: str) -> None:
    assert default_jwt_audience(login_url) == audience


def settings_from(monkeypatch: pytest.MonkeyPatch, **variables: str) -> SalesforceSettings:
    for name in ("SF_LOGIN_URL", "SF_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**SALESFORCE_ENV, **variables}.items():
        monkeypatch.setenv(name, value)
    return load(SalesforceSettings)


def test_unset_audience_is_derived_from_the_login_url(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(
        monkeypatch, SF_LOGIN_URL="https://acme--uat.sandbox.my.salesforce.com"
    )

    assert settings.audience is None
    assert settings.jwt_audience == "https://test.salesforce.com"


def test_login_url_defaults_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch, SF_AUDIENCE="")

    assert settings.login_url == "https://login.salesforce.com"
    assert settings.jwt_audience == "https://login.salesforce.com"


@pytest.mark.parametrize(
    ("configured", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com/", "https://test.salesforce.com"),
        ("https://acme.my.site.com/customers", "https://acme.my.site.com/customers"),
    ],
)
def test_configured_audience_wins_over_the_login_url(
    monkeypatch: pytest.MonkeyPatch, configured: str, audience: str
) -> None:
    settings = settings_from(
        monkeypatch, SF_LOGIN_URL="https://acme.my.salesforce.com", SF_AUDIENCE=configured
    )

    assert settings.jwt_audience == audience


@pytest.mark.parametrize("configured", ["login.salesforce.com", "http://login.salesforce.com"])
def test_audience_that_is_no_https_url_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, configured: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"^configuration error: SF_AUDIENCE: must be"):
        settings_from(monkeypatch, SF_AUDIENCE=configured)
