"""AES-256-GCM under a master key from the environment; the key id travels with each value so
that the master key can be replaced while older values stay readable."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from integrations.config import SecretsSettings

NONCE_BYTES = 12


@dataclass(frozen=True)
class Sealed:
    master_key_id: str
    nonce: bytes
    ciphertext: bytes


class UndecryptableError(Exception):
    """The master key is missing or wrong for a stored value; the message names the setting."""


class SecretCipher:
    def __init__(self, settings: SecretsSettings) -> None:
        self._current_id = settings.master_key_id
        self._keys = {key_id: AESGCM(key) for key_id, key in settings.master_keys().items()}

    @property
    def current_key_id(self) -> str:
        return self._current_id

    def seal(self, plaintext: bytes, context: str) -> Sealed:
        """Encrypt under the current master key, bound to `context` (associated data)."""
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._keys[self._current_id].encrypt(nonce, plaintext, context.encode())
        return Sealed(self._current_id, nonce, ciphertext)

    def open(self, sealed: Sealed, context: str) -> bytes:
        key = self._keys.get(sealed.master_key_id)
        if key is None:
            raise UndecryptableError(
                f"{context} is encrypted under master key id {sealed.master_key_id!r}, which is "
                "neither SECRETS_MASTER_KEY_ID nor in SECRETS_RETIRED_MASTER_KEYS"
            )
        try:
            return key.decrypt(sealed.nonce, sealed.ciphertext, context.encode())
        except InvalidTag:
            raise UndecryptableError(
                f"{context} does not decrypt with master key id {sealed.master_key_id!r}: "
                "SECRETS_MASTER_KEY is not the key it was written with"
            ) from None
