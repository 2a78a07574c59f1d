"""First start: the credentials in the seed settings become each kind's version 1.

Afterwards the store wins: the settings' values are read only for a kind that has no active
version yet, so a rotated credential is never replaced by an outdated environment. Start-up
also decrypts every active version once, so a wrong master key stops the process at once
with one line instead of failing the first vendor call.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from psycopg import AsyncConnection

from contracts.rotation import CredentialKind
from integrations.config import (
    ConfigurationError,
    DatabaseSettings,
    FreebitSettings,
    SalesforceSettings,
    SecretsSettings,
    SftpSettings,
    WhmcsSettings,
)
from integrations.database import apply_migrations
from integrations.secrets.material import (
    MalformedSecretError,
    WhmcsApiKey,
    certificate_fingerprint,
    certificate_of_key,
    jwt_private_key,
    ssh_fingerprint,
    ssh_public_line,
)
from integrations.secrets.provider import StoredCredentials
from integrations.secrets.store import SecretStore, SecretStoreError


class _MalformedSeedError(ValueError):
    """A seed setting is unreadable or malformed; the message never quotes its value."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")


@dataclass(frozen=True)
class _Initial:
    setting: str
    value: bytes
    fingerprint: str | None = None
    public_material: str | None = None


@dataclass(frozen=True)
class SeedCredentials:
    """The settings that hold each kind's first credential (None: not configured here)."""

    salesforce: SalesforceSettings | None = None
    whmcs: WhmcsSettings | None = None
    freebit: FreebitSettings | None = None
    sftp: SftpSettings | None = None

    def readers(self) -> dict[CredentialKind, Callable[[], _Initial]]:
        readers: dict[CredentialKind, Callable[[], _Initial]] = {}
        if self.salesforce is not None:
            readers[CredentialKind.SALESFORCE_JWT] = _salesforce(self.salesforce)
        if self.whmcs is not None:
            readers[CredentialKind.WHMCS_API] = _whmcs(self.whmcs)
        if self.freebit is not None:
            readers[CredentialKind.FREEBIT_OEM] = _freebit(self.freebit)
        if self.sftp is not None:
            readers[CredentialKind.SFTP_SSH] = _sftp(self.sftp)
        return readers


async def open_credentials(
    database: DatabaseSettings, secrets: SecretsSettings, seeds: SeedCredentials
) -> StoredCredentials:
    """The store, migrated and bootstrapped, behind one cached source per kind."""
    async with await AsyncConnection.connect(database.url) as connection:
        await apply_migrations(connection)
    store = SecretStore.from_settings(database, secrets)
    await asyncio.to_thread(bootstrap_secrets, store, seeds)
    return StoredCredentials(store, secrets.refresh_interval.total_seconds())


def bootstrap_secrets(store: SecretStore, seeds: SeedCredentials) -> list[CredentialKind]:
    """Store the seed credentials of the kinds without an active version; check the others
    decrypt. Returns the kinds bootstrapped now; ConfigurationError names a bad setting."""
    bootstrapped = []
    for kind, read in seeds.readers().items():
        try:
            if store.active_version(kind) is None:
                initial = read()
                added = store.add_initial(
                    kind,
                    initial.value,
                    origin=f"bootstrap from {initial.setting}",
                    fingerprint=initial.fingerprint,
                    public_material=initial.public_material,
                )
                bootstrapped += [kind] if added else []
            store.active_credential(kind)
        except _MalformedSeedError as error:
            raise ConfigurationError(f"configuration error: {error}") from None
        except (SecretStoreError, ValueError, OSError) as error:
            reason = error.message if isinstance(error, SecretStoreError) else str(error)
            raise ConfigurationError(f"configuration error: secret store: {reason}") from None
    return bootstrapped


def _read_file(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise _MalformedSeedError(setting, f"cannot read {path}: {error.strerror}") from None


def _one_token(setting: str, value: str) -> str:
    """A credential copied with a line break or a space would fail at the vendor, later."""
    if not value or value != value.strip() or any(c.isspace() for c in value):
        raise _MalformedSeedError(setting, "empty or contains whitespace (a copied line break?)")
    return value


def _salesforce(settings: SalesforceSettings) -> Callable[[], _Initial]:
    def read() -> _Initial:
        if settings.private_key_base64 is not None:
            setting = "SF_PRIVATE_KEY_BASE64"
            encoded = settings.private_key_base64.get_secret_value()
            try:
                pem = base64.b64decode("".join(encoded.split()), validate=True)
            except ValueError:
                raise _MalformedSeedError(setting, "not valid base64") from None
        else:
            setting = "SF_PRIVATE_KEY_PATH"
            assert settings.private_key_path is not None
            pem = _read_file(setting, settings.private_key_path)
        try:
            key = jwt_private_key(pem)
        except MalformedSecretError as error:
            raise _MalformedSeedError(setting, str(error)) from None
        if settings.certificate_path is None:
            return _Initial(setting, pem)
        certificate_pem = _read_file("SF_CERTIFICATE_PATH", settings.certificate_path)
        try:
            certificate = certificate_of_key(certificate_pem, key)
        except MalformedSecretError as error:
            raise _MalformedSeedError("SF_CERTIFICATE_PATH", f"{error} in {setting}") from None
        return _Initial(
            setting,
            pem,
            fingerprint=certificate_fingerprint(certificate),
            public_material=certificate,
        )

    return read


def _whmcs(settings: WhmcsSettings) -> Callable[[], _Initial]:
    def read() -> _Initial:
        _one_token("WHMCS_API_IDENTIFIER", settings.api_identifier.get_secret_value())
        _one_token("WHMCS_API_SECRET", settings.api_secret.get_secret_value())
        key = WhmcsApiKey(identifier=settings.api_identifier, secret=settings.api_secret)
        return _Initial("WHMCS_API_IDENTIFIER/WHMCS_API_SECRET", key.to_bytes())

    return read


def _freebit(settings: FreebitSettings) -> Callable[[], _Initial]:
    def read() -> _Initial:
        key = _one_token("FREEBIT_OEM_KEY", settings.oem_key.get_secret_value())
        return _Initial("FREEBIT_OEM_KEY", key.encode())

    return read


def _sftp(settings: SftpSettings) -> Callable[[], _Initial]:
    def read() -> _Initial:
        setting = "SFTP_PRIVATE_KEY_PATH"
        value = _read_file(setting, settings.private_key_path)
        try:
            line = ssh_public_line(value, f"{settings.username}@portal-workflows v1")
        except MalformedSecretError as error:
            raise _MalformedSeedError(setting, str(error)) from None
        return _Initial(setting, value, fingerprint=ssh_fingerprint(line), public_material=line)

    return read
