"""The OAuth 2.0 JWT bearer flow: connected apps with their certificates, and sessions.

An assertion is accepted only if it is signed by the private key of one of the
certificates registered for its consumer key, so key rotation is testable: register the new
certificate next to the old one, switch the client, remove the old one.
"""

from __future__ import annotations

import secrets
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulators.salesforce.ids import new_id

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
VALID_AUDIENCES = frozenset({"https://login.salesforce.com", "https://test.salesforce.com"})
"""The assertion's `aud` must be one of these or an Experience Cloud site URL (this org has no
site), whatever host the token is requested from, the emulator's own URL included ("OAuth 2.0
JWT Bearer Flow for Server-to-Server Integration", Salesforce Help,
https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm). Anything
else: 400 invalid_grant "audience is invalid" (the answer as quoted in "Salesforce invalid_grant
audience is invalid", https://www.useparagon.com/integration-error-solutions/salesforce-invalid-grant-audience-is-invalid)."""
ORGANIZATION_ID = new_id("00D", 1)
_ALLOWED_CLOCK_SKEW_SECONDS = 120
_MAX_ASSERTION_LIFETIME_SECONDS = 180 + _ALLOWED_CLOCK_SKEW_SECONDS


class OAuthError(Exception):
    """Answered as 400 `{"error": ..., "error_description": ...}`."""

    def __init__(self, description: str, error: str = "invalid_grant") -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def response(self) -> JSONResponse:
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=400)


def certificate_fingerprint(certificate_pem: str) -> str:
    """SHA-256 of the certificate, hex: how the control API names a certificate."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    return certificate.fingerprint(hashes.SHA256()).hex()


@dataclass
class ConnectedApp:
    consumer_key: str
    username: str
    certificates: dict[str, x509.Certificate] = field(default_factory=dict)

    def add_certificate(self, certificate_pem: str) -> None:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        self.certificates[certificate_fingerprint(certificate_pem)] = certificate

    def signed(self, assertion: str) -> bool:
        return any(_verifies(assertion, cert) for cert in self.certificates.values())


class JwtBearerIssuer:
    """Connected apps and the sessions issued to them."""

    def __init__(self) -> None:
        self.apps: dict[str, ConnectedApp] = {}
        self._sessions: set[str] = set()

    def register_app(
        self, consumer_key: str, username: str, certificate_pems: Iterable[str]
    ) -> None:
        app = ConnectedApp(consumer_key, username)
        for pem in certificate_pems:
            app.add_certificate(pem)
        self.apps[consumer_key] = app

    def is_valid_session(self, access_token: str) -> bool:
        return access_token in self._sessions

    def expire_sessions(self) -> None:
        self._sessions.clear()

    def issue_token(self, form: dict[str, str], base_url: str) -> dict[str, str]:
        if form.get("grant_type") != JWT_BEARER_GRANT:
            raise OAuthError("grant type not supported", error="unsupported_grant_type")
        assertion = form.get("assertion", "")
        claims = _unverified_claims(assertion)
        app = self.apps.get(str(claims.get("iss")))
        if app is None or claims.get("sub") != app.username:
            raise OAuthError("user hasn't approved this consumer")
        if not app.signed(assertion):
            raise OAuthError("invalid assertion")
        audience = claims.get("aud")
        if not isinstance(audience, str) or audience not in VALID_AUDIENCES:
            raise OAuthError("audience is invalid")
        _check_expiry(claims.get("exp"))
        access_token = f"{ORGANIZATION_ID[:15]}!{secrets.token_urlsafe(48)}"
        self._sessions.add(access_token)
        user_id = new_id("005", zlib.crc32(app.username.encode()))
        return {
            "access_token": access_token,
            "instance_url": base_url,
            "id": f"{base_url}/id/{ORGANIZATION_ID}/{user_id}",
            "token_type": "Bearer",
            "scope": "api",
        }


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form, last value of each field (no multipart support needed)."""
    fields = parse_qs((await request.body()).decode(), keep_blank_values=True)
    return {name: values[-1] for name, values in fields.items()}


def base_url_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


async def token_response(issuer: JwtBearerIssuer, request: Request) -> Response:
    try:
        return JSONResponse(issuer.issue_token(await read_form(request), base_url_of(request)))
    except OAuthError as error:
        return error.response()


def _unverified_claims(assertion: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError("invalid assertion") from None
    return claims


def _verifies(assertion: str, certificate: x509.Certificate) -> bool:
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    try:
        jwt.PyJWS().decode(assertion, key=public_key, algorithms=["RS256"])
    except jwt.PyJWTError:
        return False
    return True


def _check_expiry(exp: Any) -> None:
    """`exp` is seconds since the epoch, a number or (simple-salesforce) a numeric string."""
    try:
        seconds_left = float(exp) - time.time()
    except (TypeError, ValueError):
        raise OAuthError("invalid assertion") from None
    if seconds_left <= -_ALLOWED_CLOCK_SKEW_SECONDS:
        raise OAuthError("expired authorization code")
    if seconds_left > _MAX_ASSERTION_LIFETIME_SECONDS:
        raise OAuthError("invalid assertion: exp is more than 3 minutes ahead")
