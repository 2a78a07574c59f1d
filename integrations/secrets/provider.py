"""Where a client gets its credential: the store's active version, cached briefly.

A `StoredCredential` re-reads the active version after `refresh_interval`, at once when told
(`refresh`, after a promotion in this process) and when the vendor rejected the credential
it handed out (`after_rejection`): a version promoted by another process is then picked up
on the first failure, without a restart. A plain `CredentialSource` serves one value
(from the settings when there is no store, or a candidate version being verified).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import psycopg
import structlog

from contracts.rotation import CredentialKind
from integrations.secrets.store import Credential, SecretStore

log = structlog.get_logger(__name__)


class CredentialSource:
    """The interface the clients use; this base calls `read` on every use (e.g. a key file
    named in the settings) and never has another credential to offer."""

    def __init__(self, read: Callable[[], bytes], *, version: int = 0) -> None:
        self._read = read
        self._version = version

    def current(self) -> Credential:
        return Credential(version=self._version, value=self._read())

    async def current_async(self) -> Credential:
        return self.current()

    def after_rejection(self, rejected: Credential) -> Credential | None:
        """A different credential to try after `rejected` was refused; None: there is none."""
        return None

    async def after_rejection_async(self, rejected: Credential) -> Credential | None:
        return self.after_rejection(rejected)


def fixed_credential(value: bytes, version: int = 0) -> CredentialSource:
    return CredentialSource(lambda: value, version=version)


class StoredCredential(CredentialSource):
    """Thread-safe; async callers never block the event loop on the database."""

    def __init__(
        self,
        store: SecretStore,
        kind: CredentialKind,
        refresh_interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._kind = kind
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: Credential | None = None
        self._read_at = 0.0

    def current(self) -> Credential:
        with self._lock:
            if self._cached is None or self._stale():
                self._reload()
            assert self._cached is not None
            return self._cached

    async def current_async(self) -> Credential:
        cached = self._cached
        if cached is not None and not self._stale():
            return cached
        return await asyncio.to_thread(self.current)

    def after_rejection(self, rejected: Credential) -> Credential | None:
        with self._lock:
            if self._cached is None or self._cached.version == rejected.version:
                self._reload()
            assert self._cached is not None
            newer = self._cached
        if newer.version == rejected.version:
            return None
        log.info(
            "Credential rejected: using the newly active version",
            kind=self._kind,
            rejected_version=rejected.version,
            version=newer.version,
        )
        return newer

    async def after_rejection_async(self, rejected: Credential) -> Credential | None:
        return await asyncio.to_thread(self.after_rejection, rejected)

    def refresh(self) -> None:
        """Read the store again on next use."""
        with self._lock:
            self._read_at = float("-inf")

    def _stale(self) -> bool:
        return self._clock() - self._read_at >= self._refresh_interval

    def _reload(self) -> None:
        try:
            self._cached = self._store.active_credential(self._kind)
        except psycopg.OperationalError as error:
            if self._cached is None:
                raise
            log.warning(
                "Secret store unreadable: keeping the credential read before",
                kind=self._kind,
                version=self._cached.version,
                error=str(error),
            )
        self._read_at = self._clock()


def source_for(
    credentials: StoredCredentials | None, kind: CredentialKind
) -> StoredCredential | None:
    """The store's source for `kind`; None without a store (the client reads its settings)."""
    return None if credentials is None else credentials[kind]


class StoredCredentials:
    """One `StoredCredential` per kind, shared by the clients of one process."""

    def __init__(self, store: SecretStore, refresh_interval: float) -> None:
        self.store = store
        self._sources = {
            kind: StoredCredential(store, kind, refresh_interval) for kind in CredentialKind
        }

    def __getitem__(self, kind: CredentialKind) -> StoredCredential:
        return self._sources[kind]

    def refresh(self, kind: CredentialKind) -> None:
        self._sources[kind].refresh()
