"""OEM authentication: which oemId/oemKeys are accepted and which authKeys are still valid.

An authKey lives `ttl` after its login. Told that a login invalidates older keys
(`FreebitBehaviour.login_invalidates_older_keys`), a successful login also ends every key
issued before it; a refused login ends none."""

from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta

from emulators.freebit.records import OemCredentials
from emulators.freebit.refusals import auth_key_rejected, oem_authentication_failed


class AuthKeys:
    def __init__(
        self,
        credentials: OemCredentials,
        ttl: timedelta,
        *,
        login_invalidates_older_keys: bool = False,
    ) -> None:
        self._credentials = credentials
        self._ttl = ttl
        self._login_invalidates_older_keys = login_invalidates_older_keys
        self._expiry_by_key: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def set_login_invalidates_older_keys(self, invalidates: bool) -> None:
        """Applies to logins from now on; the keys valid now stay valid until then."""
        with self._lock:
            self._login_invalidates_older_keys = invalidates

    def set_credentials(self, credentials: OemCredentials) -> None:
        with self._lock:
            self._credentials = credentials

    def set_ttl(self, ttl: timedelta) -> None:
        """Applies to keys issued from now on."""
        with self._lock:
            self._ttl = ttl

    def issue(self, oem_id: object, oem_key: object, now: datetime) -> str:
        with self._lock:
            if not self._accepts(oem_id, oem_key):
                raise oem_authentication_failed()
            if self._login_invalidates_older_keys:
                self._expiry_by_key.clear()
            else:
                self._forget_expired(now)
            auth_key = secrets.token_urlsafe(24)
            self._expiry_by_key[auth_key] = now + self._ttl
            return auth_key

    def check(self, auth_key: object, now: datetime) -> None:
        with self._lock:
            expiry = self._expiry_by_key.get(auth_key) if isinstance(auth_key, str) else None
            if expiry is None or now >= expiry:
                raise auth_key_rejected()

    def expire_all(self) -> None:
        with self._lock:
            self._expiry_by_key.clear()

    def _accepts(self, oem_id: object, oem_key: object) -> bool:
        if not (isinstance(oem_id, str) and isinstance(oem_key, str)):
            return False
        credentials = self._credentials
        return _same(oem_id, credentials.oem_id) and any(
            _same(oem_key, accepted) for accepted in credentials.oem_keys
        )

    def _forget_expired(self, now: datetime) -> None:
        self._expiry_by_key = {
            key: expiry for key, expiry in self._expiry_by_key.items() if expiry > now
        }


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())
