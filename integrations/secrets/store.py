"""The secret store: versioned vendor credentials in PostgreSQL, encrypted at rest.

Synchronous (psycopg), one short connection per call: it is read rarely (clients cache the
active version, see `provider.py`), from threads and, through `asyncio.to_thread`, from the
event loop. Every change runs in one transaction under a per-kind advisory lock, so two
writers of one kind never interleave.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from pydantic import BaseModel

from contracts.rotation import CredentialKind, VersionState
from integrations.config import DatabaseSettings, SecretsSettings
from integrations.errors import BusinessError
from integrations.secrets.cipher import Sealed, SecretCipher, UndecryptableError

log = structlog.get_logger(__name__)

_LOCK_NAMESPACE = "secret_versions:"
_METADATA = (
    "kind, version, state, master_key_id, fingerprint, public_material, origin, "
    "created_at, activated_at, retired_at"
)


class SecretVersion(BaseModel):
    """What may be shown about a version: never its value."""

    kind: CredentialKind
    version: int
    state: VersionState
    master_key_id: str
    fingerprint: str | None
    public_material: str | None
    origin: str
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True)
class Credential:
    """A version's plaintext value; version 0 is a credential from the settings."""

    version: int
    value: bytes = field(repr=False)

    def text(self) -> str:
        return self.value.decode()


class SecretStoreError(BusinessError):
    def __init__(self, message: str) -> None:
        super().__init__("SECRETS", message)


class Promotion(BaseModel):
    active: int
    retired: int | None


class SecretStore:
    def __init__(self, database_url: str, cipher: SecretCipher) -> None:
        self._url = database_url
        self._cipher = cipher

    @classmethod
    def from_settings(cls, database: DatabaseSettings, secrets: SecretsSettings) -> SecretStore:
        return cls(database.url, SecretCipher(secrets))

    def versions(self, kind: CredentialKind) -> list[SecretVersion]:
        """Every version of `kind`, newest first."""
        with self._connection() as connection:
            rows = connection.execute(
                f"SELECT {_METADATA} FROM secret_versions WHERE kind = %s ORDER BY version DESC",
                (kind.value,),
            ).fetchall()
        return [SecretVersion.model_validate(row) for row in rows]

    def version(self, kind: CredentialKind, version: int) -> SecretVersion:
        with self._connection() as connection:
            row = connection.execute(
                f"SELECT {_METADATA} FROM secret_versions WHERE kind = %s AND version = %s",
                (kind.value, version),
            ).fetchone()
        if row is None:
            raise SecretStoreError(f"{kind} has no version {version}")
        return SecretVersion.model_validate(row)

    def active_version(self, kind: CredentialKind) -> SecretVersion | None:
        with self._connection() as connection:
            row = connection.execute(
                f"SELECT {_METADATA} FROM secret_versions WHERE kind = %s AND state = 'active'",
                (kind.value,),
            ).fetchone()
        return None if row is None else SecretVersion.model_validate(row)

    def active_credential(self, kind: CredentialKind) -> Credential:
        with self._connection() as connection:
            row = connection.execute(
                "SELECT version, master_key_id, nonce, ciphertext FROM secret_versions "
                "WHERE kind = %s AND state = 'active'",
                (kind.value,),
            ).fetchone()
        if row is None:
            raise SecretStoreError(f"{kind} has no active version in the secret store")
        return self._decrypted(kind, row)

    def credential(self, kind: CredentialKind, version: int) -> Credential:
        """Any version's value, e.g. a staged one to verify it; not a discarded one."""
        with self._connection() as connection:
            row = connection.execute(
                "SELECT version, state, master_key_id, nonce, ciphertext FROM secret_versions "
                "WHERE kind = %s AND version = %s",
                (kind.value, version),
            ).fetchone()
        if row is None:
            raise SecretStoreError(f"{kind} has no version {version}")
        if row["state"] == VersionState.DISCARDED:
            raise SecretStoreError(f"{kind} v{version} was discarded")
        return self._decrypted(kind, row)

    def stage(
        self,
        kind: CredentialKind,
        value: bytes,
        *,
        origin: str,
        fingerprint: str | None = None,
        public_material: str | None = None,
    ) -> SecretVersion:
        """Add a staged version; a version staged before it (of an abandoned attempt) is
        discarded, so a kind has at most one candidate."""
        with self._locked(kind) as connection:
            connection.execute(
                "UPDATE secret_versions SET state = 'discarded', ciphertext = '' "
                "WHERE kind = %s AND state = 'staged'",
                (kind.value,),
            )
            staged = self._insert(
                connection, kind, value, VersionState.STAGED, origin, fingerprint, public_material
            )
        log.info("Secret version staged", kind=kind, version=staged.version, origin=origin)
        return staged

    def add_initial(
        self,
        kind: CredentialKind,
        value: bytes,
        *,
        origin: str,
        fingerprint: str | None = None,
        public_material: str | None = None,
    ) -> SecretVersion | None:
        """Store `value` as the active version unless `kind` already has one (bootstrap)."""
        with self._locked(kind) as connection:
            exists = connection.execute(
                "SELECT 1 FROM secret_versions WHERE kind = %s AND state = 'active'",
                (kind.value,),
            ).fetchone()
            if exists:
                return None
            added = self._insert(
                connection, kind, value, VersionState.ACTIVE, origin, fingerprint, public_material
            )
        log.info("Secret version bootstrapped", kind=kind, version=added.version, origin=origin)
        return added

    def promote(self, kind: CredentialKind, version: int) -> Promotion:
        """Make a staged version active and retire the active one; repeating it is harmless."""
        with self._locked(kind) as connection:
            target = self._state_of(connection, kind, version)
            current = connection.execute(
                "SELECT version FROM secret_versions WHERE kind = %s AND state = 'active'",
                (kind.value,),
            ).fetchone()
            if target is VersionState.ACTIVE:
                return Promotion(active=version, retired=self._retired_by(connection, kind))
            if target is not VersionState.STAGED:
                raise SecretStoreError(f"{kind} v{version} is {target}, not staged")
            connection.execute(
                "UPDATE secret_versions SET state = 'retired', retired_at = now() "
                "WHERE kind = %s AND state = 'active'",
                (kind.value,),
            )
            connection.execute(
                "UPDATE secret_versions SET state = 'active', activated_at = now() "
                "WHERE kind = %s AND version = %s",
                (kind.value, version),
            )
        retired = current["version"] if current else None
        log.info("Secret version promoted", kind=kind, version=version, retired=retired)
        return Promotion(active=version, retired=retired)

    def discard(self, kind: CredentialKind, version: int) -> bool:
        """Discard a staged version (erasing its value); False when it was not staged."""
        with self._locked(kind) as connection:
            discarded = connection.execute(
                "UPDATE secret_versions SET state = 'discarded', ciphertext = '' "
                "WHERE kind = %s AND version = %s AND state = 'staged'",
                (kind.value, version),
            ).rowcount
        if discarded:
            log.info("Secret version discarded", kind=kind, version=version)
        return bool(discarded)

    def reencrypt(self) -> int:
        """Re-encrypt every kept value under the current master key; the number changed."""
        changed = 0
        for kind in CredentialKind:
            with self._locked(kind) as connection:
                rows = connection.execute(
                    "SELECT version, master_key_id, nonce, ciphertext FROM secret_versions "
                    "WHERE kind = %s AND state <> 'discarded' AND master_key_id <> %s",
                    (kind.value, self._cipher.current_key_id),
                ).fetchall()
                for row in rows:
                    sealed = self._cipher.seal(
                        self._decrypted(kind, row).value, _context(kind, row["version"])
                    )
                    connection.execute(
                        "UPDATE secret_versions SET master_key_id = %s, nonce = %s, "
                        "ciphertext = %s WHERE kind = %s AND version = %s",
                        (*_sealed_columns(sealed), kind.value, row["version"]),
                    )
                    changed += 1
        return changed

    def _insert(
        self,
        connection: psycopg.Connection[dict[str, Any]],
        kind: CredentialKind,
        value: bytes,
        state: VersionState,
        origin: str,
        fingerprint: str | None,
        public_material: str | None,
    ) -> SecretVersion:
        latest = connection.execute(
            "SELECT coalesce(max(version), 0) AS latest FROM secret_versions WHERE kind = %s",
            (kind.value,),
        ).fetchone()
        assert latest is not None
        version = int(latest["latest"]) + 1
        sealed = self._cipher.seal(value, _context(kind, version))
        row = connection.execute(
            "INSERT INTO secret_versions (kind, version, state, master_key_id, nonce, ciphertext,"
            " fingerprint, public_material, origin, activated_at) VALUES (%s, %s, %s, %s, %s, %s,"
            f" %s, %s, %s, CASE WHEN %s = 'active' THEN now() END) RETURNING {_METADATA}",
            (
                kind.value,
                version,
                state.value,
                *_sealed_columns(sealed),
                fingerprint,
                public_material,
                origin,
                state.value,
            ),
        ).fetchone()
        return SecretVersion.model_validate(row)

    def _state_of(
        self, connection: psycopg.Connection[dict[str, Any]], kind: CredentialKind, version: int
    ) -> VersionState:
        row = connection.execute(
            "SELECT state FROM secret_versions WHERE kind = %s AND version = %s",
            (kind.value, version),
        ).fetchone()
        if row is None:
            raise SecretStoreError(f"{kind} has no version {version}")
        return VersionState(row["state"])

    def _retired_by(
        self, connection: psycopg.Connection[dict[str, Any]], kind: CredentialKind
    ) -> int | None:
        row = connection.execute(
            "SELECT max(version) AS version FROM secret_versions "
            "WHERE kind = %s AND state = 'retired'",
            (kind.value,),
        ).fetchone()
        return None if row is None else row["version"]

    def _decrypted(self, kind: CredentialKind, row: dict[str, Any]) -> Credential:
        sealed = Sealed(row["master_key_id"], bytes(row["nonce"]), bytes(row["ciphertext"]))
        try:
            value = self._cipher.open(sealed, _context(kind, row["version"]))
        except UndecryptableError as error:
            raise SecretStoreError(str(error)) from None
        return Credential(version=row["version"], value=value)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with psycopg.connect(self._url, row_factory=dict_row, autocommit=True) as connection:
            yield connection

    @contextmanager
    def _locked(self, kind: CredentialKind) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with (
            psycopg.connect(self._url, row_factory=dict_row) as connection,
            connection.transaction(),
        ):
            connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (_LOCK_NAMESPACE + kind.value,)
            )
            yield connection


def _context(kind: CredentialKind, version: int) -> str:
    """The associated data of a value, and how errors name it: `whmcs-api v3`."""
    return f"{kind} v{version}"


def _sealed_columns(sealed: Sealed) -> tuple[str, bytes, bytes]:
    return sealed.master_key_id, sealed.nonce, sealed.ciphertext
