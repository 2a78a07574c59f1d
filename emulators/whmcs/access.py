"""Who may call the WHMCS emulator's API: checked as WHMCS checks it, in WHMCS's order.

1. Access control ("Access Control", https://developers.whmcs.com/api/access-control/): the
   API is restricted to the allow-listed IPs; an access key set in `configuration.php`
   (`$api_access_key`) and passed as `accesskey` bypasses that restriction. A request that
   sends a key while one is configured is judged by the key alone ("Invalid Access Key");
   otherwise by its address ("Invalid IP <address>"), also when it sends a key WHMCS does not
   have.
2. Authentication ("Authentication", https://developers.whmcs.com/api/authentication/): the
   `identifier` and `secret` of an API credential. No identifier or secret, or an identifier
   WHMCS does not know (e.g. a credential deleted after a rotation): "Invalid or missing
   credentials"; a known identifier with the wrong secret: "Authentication Failed".
3. Authorization ("API Credentials" > API Roles, https://docs.whmcs.com/Manage_API_Credentials):
   a credential may call an action only if one of its API roles allows it, otherwise
   `Invalid Permissions: API action "<action in lower case>" is not allowed`.

These pages name the checks but not their answers. The texts and the order are those of
WHMCS's API middleware (SystemAccessControl, Authentication, Authorization), as installations
answer them, e.g. https://github.com/drosendo/whmcs-custom-apis/issues/1 (Invalid Permissions,
lower-cased action); every refusal is `{"result": "error", "message": ...}` with HTTP 403 (an
IP outside the allow list: https://github.com/Linuxfabrik/monitoring-plugins/issues/861).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence

from emulators.whmcs.records import ApiCredential

INVALID_ACCESS_KEY = "Invalid Access Key"
INVALID_OR_MISSING_CREDENTIALS = "Invalid or missing credentials"
AUTHENTICATION_FAILED = "Authentication Failed"
REFUSAL_STATUS = 403


def invalid_ip(address: str) -> str:
    return f"Invalid IP {address}"


def action_not_allowed(action: str) -> str:
    return f'Invalid Permissions: API action "{action.lower()}" is not allowed'


class ApiAccess:
    """The credentials, API roles, IP allow list and access key the emulator checks.

    After start and every reset: the initial credential, allowed every action; every address
    allowed (an installation whose allow list has the callers' addresses: real WHMCS refuses
    every address until some are listed); no access key.
    """

    def __init__(self, credential: ApiCredential) -> None:
        self._initial_credential = credential
        self._lock = threading.Lock()
        self._credentials = [credential]
        self._allowed_ips: list[str] | None = None
        self._access_key: str | None = None

    def reset(self) -> None:
        with self._lock:
            self._credentials = [self._initial_credential]
            self._allowed_ips = None
            self._access_key = None

    def set_credentials(self, credentials: Sequence[ApiCredential]) -> None:
        """Replace the API credentials (several at once during a rotation)."""
        with self._lock:
            self._credentials = list(credentials)

    def set_allowed_ips(self, ips: Sequence[str] | None) -> None:
        """The API IP allow list; an empty one allows no address, as in WHMCS; None: every
        address (the start state)."""
        with self._lock:
            self._allowed_ips = None if ips is None else list(ips)

    def set_access_key(self, access_key: str | None) -> None:
        """`$api_access_key` of `configuration.php`; None: not configured."""
        with self._lock:
            self._access_key = access_key or None

    def refusal(
        self, *, client_ip: str, access_key: str, identifier: str, secret: str, action: str
    ) -> str | None:
        """WHMCS's message refusing this request, or None when it may run `action`."""
        with self._lock:
            if self._access_key is not None and access_key:
                if not _same(access_key, self._access_key):
                    return INVALID_ACCESS_KEY
            elif self._allowed_ips is not None and client_ip not in self._allowed_ips:
                return invalid_ip(client_ip)
            if not identifier or not secret:
                return INVALID_OR_MISSING_CREDENTIALS
            known = [c for c in self._credentials if _same(identifier, c.identifier)]
            if not known:
                return INVALID_OR_MISSING_CREDENTIALS
            credential = next((c for c in known if _same(secret, c.secret)), None)
            if credential is None:
                return AUTHENTICATION_FAILED
            denied = {denied_action.lower() for denied_action in credential.denied_actions}
            if action.lower() in denied:
                return action_not_allowed(action)
            return None


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())
