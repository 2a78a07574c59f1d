"""How each kind's credential is written into the store, and what may be shown of it.

- salesforce-jwt: the PEM private key; shown: the X.509 certificate and its SHA-256 (the
  first version's only when SF_CERTIFICATE_PATH names its certificate).
- whmcs-api: JSON `{"identifier", "secret"}`; shown: nothing.
- freebit-oem: the OEM key as text; shown: nothing.
- sftp-ssh: the private key (OpenSSH or PEM); shown: the authorized_keys line and its
  OpenSSH fingerprint (`SHA256:...`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import paramiko
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pydantic import BaseModel, SecretStr, ValidationError

from contracts.rotation import CredentialKind

_SSH_KEY_TYPES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.RSAKey,
    paramiko.ECDSAKey,
)


class MalformedSecretError(ValueError):
    """Input for a kind is not in that kind's format; the message never quotes it."""


class WhmcsApiKey(BaseModel):
    identifier: SecretStr
    secret: SecretStr

    def to_bytes(self) -> bytes:
        values = {
            "identifier": self.identifier.get_secret_value(),
            "secret": self.secret.get_secret_value(),
        }
        return json.dumps(values).encode()

    @classmethod
    def from_bytes(cls, value: bytes) -> WhmcsApiKey:
        try:
            return cls.model_validate_json(value)
        except ValidationError:
            raise MalformedSecretError("not a WHMCS identifier/secret pair") from None

    @classmethod
    def from_lines(cls, text: str) -> WhmcsApiKey:
        """The operator's input: the identifier on the first line, the secret on the second."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) != 2:
            raise MalformedSecretError(
                "expected two lines: the API identifier, then the API secret"
            )
        return cls(identifier=SecretStr(lines[0]), secret=SecretStr(lines[1]))


def oem_key_from_text(text: str) -> bytes:
    key = text.strip()
    if not key or any(character.isspace() for character in key):
        raise MalformedSecretError("expected the OEM key alone on one line")
    return key.encode()


@dataclass(frozen=True)
class SshKeyPair:
    private_key: bytes
    public_line: str
    fingerprint: str


def generate_ssh_key(comment: str) -> SshKeyPair:
    key = ed25519.Ed25519PrivateKey.generate()
    private_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode()} {comment}"
    return SshKeyPair(private_key, line, ssh_fingerprint(line))


def ssh_private_key(value: bytes) -> paramiko.PKey:
    """The paramiko key of an OpenSSH or PEM private key (Ed25519, RSA or ECDSA)."""
    for key_type in _SSH_KEY_TYPES:
        try:
            return key_type.from_private_key(io.StringIO(value.decode()))
        except (paramiko.SSHException, ValueError, UnicodeDecodeError):
            continue
    raise MalformedSecretError("not an unencrypted Ed25519, RSA or ECDSA private key")


def ssh_public_line(value: bytes, comment: str) -> str:
    key = ssh_private_key(value)
    return f"{key.get_name()} {key.get_base64()} {comment}"


def ssh_fingerprint(public_line: str) -> str:
    """OpenSSH's `SHA256:...` fingerprint of an authorized_keys line."""
    blob = base64.b64decode(public_line.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def certificate_fingerprint(certificate_pem: str) -> str:
    """SHA-256 of the certificate (its DER bytes), the fingerprint tools show for it
    (`openssl x509 -noout -fingerprint -sha256`, in lower case without colons)."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    return f"SHA256:{certificate.fingerprint(hashes.SHA256()).hex()}"


def jwt_private_key(private_key_pem: bytes) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError):
        raise MalformedSecretError("not an unencrypted PEM private key") from None


def certificate_of_key(certificate_pem: bytes, key: PrivateKeyTypes) -> str:
    """The certificate as text, once it is known to be the certificate of `key`: the one the
    Connected App holds for it."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise MalformedSecretError("not a PEM X.509 certificate") from None
    if _spki(certificate.public_key()) != _spki(key.public_key()):
        raise MalformedSecretError("not the certificate of the private key")
    return certificate_pem.decode()


def _spki(public_key: Any) -> bytes:
    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def staged_secret(kind: CredentialKind, text: str) -> bytes:
    """An operator's input for a kind whose credential comes from the vendor, as stored."""
    if kind is CredentialKind.WHMCS_API:
        return WhmcsApiKey.from_lines(text).to_bytes()
    if kind is CredentialKind.FREEBIT_OEM:
        return oem_key_from_text(text)
    raise MalformedSecretError(f"a {kind} rotation generates its own key; nothing is staged")
