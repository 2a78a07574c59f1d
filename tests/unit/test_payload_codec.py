"""The payload encryption codec and its settings, without a server."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretBytes
from temporalio.api.common.v1 import Payload

from contracts.provisioning import RetryRequest
from integrations.config import ConfigurationError, PayloadEncryptionSettings, load
from integrations.payload_codec import (
    ENCODING,
    KEY_ID_METADATA,
    AesGcmPayloadCodec,
    UnknownEncryptionKeyError,
    data_converter,
)

OLD_KEY, NEW_KEY = os.urandom(32), os.urandom(32)
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"order_id":"801000000000001AAA"}')


async def test_round_trip_hides_the_data_and_names_the_key() -> None:
    codec = AesGcmPayloadCodec({"k1": NEW_KEY}, "k1")

    [encrypted] = await codec.encode([PLAIN])
    [decrypted] = await codec.decode([encrypted])

    assert encrypted.metadata["encoding"] == ENCODING
    assert encrypted.metadata[KEY_ID_METADATA] == b"k1"
    assert b"801000000000001AAA" not in encrypted.SerializeToString()
    assert decrypted == PLAIN


async def test_payloads_encrypted_with_a_retired_key_still_decode() -> None:
    [written_last_year] = await AesGcmPayloadCodec({"old": OLD_KEY}, "old").encode([PLAIN])
    rotated = AesGcmPayloadCodec({"new": NEW_KEY, "old": OLD_KEY}, "new")

    [written_now] = await rotated.encode([PLAIN])

    assert written_now.metadata[KEY_ID_METADATA] == b"new"
    assert await rotated.decode([written_last_year, written_now]) == [PLAIN, PLAIN]


async def test_a_dropped_key_is_named_when_its_payloads_are_read() -> None:
    [encrypted] = await AesGcmPayloadCodec({"old": OLD_KEY}, "old").encode([PLAIN])

    with pytest.raises(UnknownEncryptionKeyError, match="'old'"):
        await AesGcmPayloadCodec({"new": NEW_KEY}, "new").decode([encrypted])


async def test_unencrypted_payloads_from_before_encryption_pass_through() -> None:
    codec = AesGcmPayloadCodec({"k1": NEW_KEY}, "k1")
    assert await codec.decode([PLAIN]) == [PLAIN]


async def test_keys_without_a_current_key_decrypt_but_no_longer_encrypt() -> None:
    [encrypted] = await AesGcmPayloadCodec({"k1": NEW_KEY}, "k1").encode([PLAIN])
    decrypt_only = AesGcmPayloadCodec({"k1": NEW_KEY}, None)

    assert await decrypt_only.encode([PLAIN]) == [PLAIN]
    assert await decrypt_only.decode([encrypted]) == [PLAIN]


async def test_data_converter_keeps_pydantic_and_adds_the_codec() -> None:
    settings = PayloadEncryptionSettings(key_id="k1", keys={"k1": SecretBytes(NEW_KEY)})
    converter = data_converter(settings)

    [payload] = await converter.encode([RetryRequest(reason="customer added a card")])
    [decoded] = await converter.decode([payload], [RetryRequest])

    assert payload.metadata["encoding"] == ENCODING
    assert decoded == RetryRequest(reason="customer added a card")


def test_encryption_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEMPORAL_PAYLOAD_ENCRYPTION_KEY_ID", raising=False)
    monkeypatch.delenv("TEMPORAL_PAYLOAD_ENCRYPTION_KEYS", raising=False)
    assert data_converter(load(PayloadEncryptionSettings)).payload_codec is None


@pytest.mark.parametrize(
    ("keys", "key_id", "message"),
    [
        ("k1=abc", "k1", "TEMPORAL_PAYLOAD_ENCRYPTION_KEYS: each entry must be KEY_ID:BASE64_KEY"),
        ("k1:not*base64", "k1", "TEMPORAL_PAYLOAD_ENCRYPTION_KEYS: key 'k1' is not valid base64"),
        (
            f"k1:{base64.b64encode(b'short').decode()}",
            "k1",
            "TEMPORAL_PAYLOAD_ENCRYPTION_KEYS: key 'k1' must be 16, 24 or 32 bytes, not 5",
        ),
        (
            f"k1:{base64.b64encode(NEW_KEY).decode()}",
            "k2",
            "TEMPORAL_PAYLOAD_ENCRYPTION_KEY_ID 'k2' is not one of "
            "TEMPORAL_PAYLOAD_ENCRYPTION_KEYS",
        ),
    ],
)
def test_a_malformed_key_setting_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, keys: str, key_id: str, message: str
) -> None:
    monkeypatch.setenv("TEMPORAL_PAYLOAD_ENCRYPTION_KEYS", keys)
    monkeypatch.setenv("TEMPORAL_PAYLOAD_ENCRYPTION_KEY_ID", key_id)

    with pytest.raises(ConfigurationError) as raised:
        load(PayloadEncryptionSettings)

    assert str(raised.value) == f"configuration error: {message}"
    assert base64.b64encode(NEW_KEY).decode() not in str(raised.value)
