"""`portalctl codec-server` over real HTTP, speaking Temporal's codec server protocol."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from google.protobuf.json_format import MessageToDict, ParseDict
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from emulators.server import EmulatorServer
from integrations.config import CodecServerSettings
from integrations.payload_codec import ENCODING, AesGcmPayloadCodec
from starters.services.codec_server import codec_app

UI_ORIGIN = "http://localhost:8080"
TOKEN = "Bearer ui-operator-token"
UI_HEADERS = {"Authorization": TOKEN, "X-Namespace": "default", "Origin": UI_ORIGIN}
RETIRED_KEY, CURRENT_KEY = os.urandom(32), os.urandom(32)
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"order_id":"801000000000001AAA"}')


@pytest.fixture(scope="module")
def codec_url() -> Iterator[str]:
    codec = AesGcmPayloadCodec({"2026-11": CURRENT_KEY, "2026-05": RETIRED_KEY}, "2026-11")
    settings = CodecServerSettings(cors_origins=[UI_ORIGIN], authorization=SecretStr(TOKEN))
    with EmulatorServer(codec_app(codec, settings)) as server:
        yield server.url


@pytest.fixture
async def http(codec_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=codec_url) as client:
        yield client


def as_json(*payloads: Payload) -> dict[str, object]:
    return MessageToDict(Payloads(payloads=payloads))


def payloads_in(response: httpx.Response) -> list[Payload]:
    assert response.status_code == 200, response.text
    return list(ParseDict(response.json(), Payloads()).payloads)


async def test_ui_decodes_what_was_encrypted_also_under_a_retired_key(
    http: httpx.AsyncClient,
) -> None:
    [old] = await AesGcmPayloadCodec({"2026-05": RETIRED_KEY}, "2026-05").encode([PLAIN])

    [new] = payloads_in(await http.post("/encode", json=as_json(PLAIN), headers=UI_HEADERS))
    decoded = await http.post("/decode", json=as_json(new, old), headers=UI_HEADERS)

    assert new.metadata["encoding"] == ENCODING
    assert payloads_in(decoded) == [PLAIN, PLAIN]
    assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN


async def test_browser_preflight_from_the_ui_origin_is_allowed(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI_ORIGIN


async def test_other_origins_are_not_allowed(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/decode",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers


async def test_requests_without_the_configured_authorization_are_refused(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/decode", json=as_json(PLAIN), headers={"Authorization": "x"})
    assert response.status_code == 401


async def test_malformed_requests_get_400_and_the_server_keeps_serving(
    http: httpx.AsyncClient,
) -> None:
    bad = await http.post("/decode", content=b"not json", headers=UI_HEADERS)
    good = await http.post("/decode", json=as_json(PLAIN), headers=UI_HEADERS)

    assert bad.status_code == 400
    assert payloads_in(good) == [PLAIN]


async def test_a_payload_under_an_unknown_key_is_refused_naming_the_key(
    http: httpx.AsyncClient,
) -> None:
    [foreign] = await AesGcmPayloadCodec({"other": os.urandom(32)}, "other").encode([PLAIN])

    response = await http.post("/decode", json=as_json(foreign), headers=UI_HEADERS)

    assert response.status_code == 400
    assert "'other'" in response.json()["message"]
