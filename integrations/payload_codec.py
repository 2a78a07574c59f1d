"""Optional encryption of workflow payloads: AES-GCM, with the key id in each payload's metadata.

Encrypts with the current key and decrypts with any configured key, so keys can rotate: add
the new key, make it current, and drop the old one once no history that needs it is kept.
Payloads that are not encrypted (written before encryption was turned on) pass through.
Search attributes are not payloads of the codec: they are never encrypted.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from integrations.config import PayloadEncryptionSettings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12


class UnknownEncryptionKeyError(Exception):
    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"payload encrypted with key {key_id!r}, which is not in "
            "TEMPORAL_PAYLOAD_ENCRYPTION_KEYS"
        )


class AesGcmPayloadCodec(PayloadCodec):
    """Each payload becomes nonce + AES-GCM(serialized payload), bound to its key id."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str | None) -> None:
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current_key_id = current_key_id

    @classmethod
    def from_settings(cls, settings: PayloadEncryptionSettings) -> AesGcmPayloadCodec:
        keys = {key_id: key.get_secret_value() for key_id, key in settings.keys.items()}
        return cls(keys, settings.key_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self._current_key_id is None:
            return list(payloads)
        return [self._encrypt(payload, self._current_key_id) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(payload) for payload in payloads]

    def _encrypt(self, payload: Payload, key_id: str) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata[KEY_ID_METADATA].decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownEncryptionKeyError(key_id)
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        return Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode()))


def data_converter(settings: PayloadEncryptionSettings) -> DataConverter:
    """The pydantic data converter, with the encryption codec when keys are configured."""
    if not settings.enabled:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter, payload_codec=AesGcmPayloadCodec.from_settings(settings)
    )
