"""Salesforce login with the OAuth 2.0 JWT bearer flow, and the shared access token.

Salesforce answers a JWT bearer login with an access token but no lifetime and no refresh
token, so the token is kept until a REST call reports it invalid (401), then replaced.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field

import httpx
import jwt
import structlog

from integrations.config import SalesforceSettings
from integrations.errors import AuthenticationError, IntegrationError, TransientError
from integrations.secrets.provider import CredentialSource
from integrations.secrets.store import Credential

log = structlog.get_logger(__name__)

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 180

PrivateKeySource = CredentialSource
"""The PEM private key of the connected app's certificate: the secret store's active version,
or SF_PRIVATE_KEY_PATH / SF_PRIVATE_KEY_BASE64 without a store."""


@dataclass(frozen=True)
class SalesforceToken:
    access_token: str = field(repr=False)
    instance_url: str
    org_id: str = ""
    """From the identity URL (`id`, .../id/<org id>/<user id>): the Pub/Sub API's `tenantid`."""


class SalesforceAuth:
    """Thread-safe: concurrent callers share one token and one login at a time."""

    def __init__(
        self, settings: SalesforceSettings, *, private_key: PrivateKeySource | None = None
    ) -> None:
        self._settings = settings
        self._private_key = private_key or CredentialSource(settings.private_key_pem)
        self._http = httpx.Client(
            verify=tls_verification(settings), timeout=settings.timeout / 1000
        )
        self._lock = threading.Lock()
        self._token: SalesforceToken | None = None

    def token(self) -> SalesforceToken:
        with self._lock:
            if self._token is None:
                self._token = self._login()
            return self._token

    def invalidate(self, token: SalesforceToken) -> None:
        """Forget `token` unless another caller has already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    def close(self) -> None:
        self._http.close()

    def _login(self) -> SalesforceToken:
        """With the current key; once more with a newer one if the store has one by now."""
        key = self._private_key.current()
        try:
            return self._login_with(key)
        except AuthenticationError:
            newer = self._private_key.after_rejection(key)
            if newer is None:
                raise
            return self._login_with(newer)

    def _login_with(self, key: Credential) -> SalesforceToken:
        url = f"{self._settings.login_url.rstrip('/')}/services/oauth2/token"
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self._assertion(key.value)}
        try:
            response = self._http.post(url, data=form)
        except httpx.TimeoutException:
            raise TransientError(
                "ETIMEOUT", f"Salesforce login took longer than {self._settings.timeout} ms"
            ) from None
        except httpx.TransportError as error:
            raise TransientError("ECONNECTION", f"Salesforce login failed: {error}") from None
        if response.status_code != 200:
            failure = _login_error(response)
            log.warning(
                "salesforce login failed",
                code=failure.code,
                reason=failure.message,
                login_url=self._settings.login_url,
                audience=self._settings.jwt_audience,
            )
            raise failure
        body = response.json()
        log.info("salesforce login succeeded", instance_url=body["instance_url"])
        return SalesforceToken(
            access_token=body["access_token"],
            instance_url=body["instance_url"],
            org_id=_org_id(body.get("id")),
        )

    def _assertion(self, private_key_pem: bytes) -> str:
        claims = {
            "iss": self._settings.client_id,
            "sub": self._settings.username,
            # Not the token endpoint's host: login/test.salesforce.com or an Experience Cloud
            # site ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration"); anything
            # else is refused with invalid_grant "audience is invalid".
            "aud": self._settings.jwt_audience,
            "exp": int(time.time()) + ASSERTION_LIFETIME_SECONDS,
        }
        try:
            return jwt.encode(claims, private_key_pem, algorithm="RS256")
        except (ValueError, jwt.PyJWTError):
            raise AuthenticationError("AUTH", "the private key is not a usable RSA key") from None


def _org_id(identity_url: object) -> str:
    parts = str(identity_url or "").rstrip("/").split("/")
    return parts[-2] if len(parts) >= 3 and parts[-3] == "id" else ""


def tls_verification(settings: SalesforceSettings) -> ssl.SSLContext | bool:
    """httpx's `verify`: the system CAs, or SF_CA_BUNDLE (e.g. the emulators' CA)."""
    if settings.ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=str(settings.ca_bundle))


def _login_error(response: httpx.Response) -> IntegrationError:
    retry_after = _retry_after(response)
    if response.status_code >= 500:
        return TransientError(
            str(response.status_code), "Salesforce login unavailable", retry_after=retry_after
        )
    if "REQUEST_LIMIT_EXCEEDED" in response.text:
        return TransientError("429", "Salesforce login rate limited", retry_after=retry_after)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        return AuthenticationError("AUTH", str(body.get("error_description") or body["error"]))
    return AuthenticationError("AUTH", f"unexpected login answer: HTTP {response.status_code}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
