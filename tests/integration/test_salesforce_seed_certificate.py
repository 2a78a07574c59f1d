"""The first salesforce-jwt version carries its certificate's fingerprint (what the rotation
names when it asks for the old certificate's removal) only when SF_CERTIFICATE_PATH gives the
certificate the Connected App holds: never a fingerprint of something else."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from contracts.rotation import CredentialKind
from integrations.config import ConfigurationError, DatabaseSettings, SalesforceSettings
from integrations.salesforce.keys import generate_jwt_key_pair
from integrations.secrets.bootstrap import SeedCredentials, bootstrap_secrets
from integrations.secrets.store import SecretStore
from tests.support.secret_store import empty_secret_store, secrets_settings

KIND = CredentialKind.SALESFORCE_JWT
KEY = generate_jwt_key_pair("integration@portal.example")


@pytest.fixture
def store(store_database: DatabaseSettings) -> SecretStore:
    empty_secret_store(store_database)
    return SecretStore.from_settings(store_database, secrets_settings())


def seed(tmp_path: Path, certificate_pem: bytes | None) -> SeedCredentials:
    """A JWT key, and SF_CERTIFICATE_PATH holding `certificate_pem` (None: unset)."""
    key_path = tmp_path / "jwt.key"
    key_path.write_bytes(KEY.private_key_pem)
    certificate_path = None
    if certificate_pem is not None:
        certificate_path = tmp_path / "jwt.crt"
        certificate_path.write_bytes(certificate_pem)
    settings = SalesforceSettings(
        client_id="consumer-key",
        username="integration@portal.example",
        private_key_path=key_path,
        certificate_path=certificate_path,
    )
    return SeedCredentials(salesforce=settings)


def openssl_sha256(certificate_pem: bytes) -> str:
    """`openssl x509 -noout -fingerprint -sha256`: SHA-256 of the DER certificate."""
    der = x509.load_pem_x509_certificate(certificate_pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def test_the_first_version_carries_its_certificates_fingerprint(
    store: SecretStore, tmp_path: Path
) -> None:
    bootstrap_secrets(store, seed(tmp_path, KEY.certificate_pem))

    active = store.active_version(KIND)
    assert active is not None
    assert active.fingerprint == f"SHA256:{openssl_sha256(KEY.certificate_pem)}"
    assert active.public_material == KEY.certificate_pem.decode()


def test_without_the_certificate_no_fingerprint_is_made_up(
    store: SecretStore, tmp_path: Path
) -> None:
    bootstrap_secrets(store, seed(tmp_path, None))

    active = store.active_version(KIND)
    assert active is not None
    assert active.fingerprint is None


def test_a_certificate_of_another_key_is_one_line_naming_the_setting(
    store: SecretStore, tmp_path: Path
) -> None:
    other = generate_jwt_key_pair("integration@portal.example").certificate_pem

    with pytest.raises(ConfigurationError) as refused:
        bootstrap_secrets(store, seed(tmp_path, other))

    assert str(refused.value) == (
        "configuration error: SF_CERTIFICATE_PATH: not the certificate of the private key in "
        "SF_PRIVATE_KEY_PATH"
    )
    assert store.active_version(KIND) is None
