"""`portalctl codec-server`: lets the Temporal UI (and `temporal` CLI) show encrypted payloads.

Temporal's codec server protocol: `POST /encode` and `POST /decode` take and return
`{"payloads": [...]}` in protobuf JSON; the UI calls them from the browser, so the UI's
origin must be allowed (CORS). With CODEC_SERVER_AUTHORIZATION set, a request must carry
that exact `Authorization` header (configure the UI to send it, or put a proxy in front).
"""

from __future__ import annotations

import hmac
from typing import Annotated

import typer
import uvicorn
from cryptography.exceptions import InvalidTag
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from integrations.config import (
    CodecServerSettings,
    ConfigurationError,
    PayloadEncryptionSettings,
    load,
)
from integrations.payload_codec import AesGcmPayloadCodec, UnknownEncryptionKeyError
from starters.cli.support import run

UI_REQUEST_HEADERS = ["Content-Type", "X-Namespace", "Authorization"]


def codec_app(codec: AesGcmPayloadCodec, settings: CodecServerSettings) -> Starlette:
    async def transcode(request: Request, *, decode: bool) -> Response:
        if not _authorized(request, settings):
            return JSONResponse({"message": "missing or wrong Authorization header"}, 401)
        try:
            payloads = ParseDict(await request.json(), Payloads())
            converted = await (codec.decode if decode else codec.encode)(payloads.payloads)
        except (ValueError, ParseError) as error:
            return JSONResponse({"message": f"malformed payloads: {error}"}, 400)
        except (UnknownEncryptionKeyError, InvalidTag) as error:
            return JSONResponse({"message": str(error) or "payload failed authentication"}, 400)
        return JSONResponse(MessageToDict(Payloads(payloads=converted)))

    async def encode(request: Request) -> Response:
        return await transcode(request, decode=False)

    async def decode(request: Request) -> Response:
        return await transcode(request, decode=True)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/encode", encode, methods=["POST"]),
            Route("/decode", decode, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["POST"],
                allow_headers=UI_REQUEST_HEADERS,
                allow_credentials=True,
            )
        ],
    )


def _authorized(request: Request, settings: CodecServerSettings) -> bool:
    if settings.authorization is None:
        return True
    expected = settings.authorization.get_secret_value().encode()
    return hmac.compare_digest(request.headers.get("authorization", "").encode(), expected)


def codec_server(
    host: Annotated[str | None, typer.Option(help="bind address [CODEC_SERVER_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="port [CODEC_SERVER_PORT]")] = None,
) -> None:
    """Serve /encode and /decode so the Temporal UI can show encrypted payloads.

    Uses the keys of TEMPORAL_PAYLOAD_ENCRYPTION_KEYS; point the UI's codec endpoint here.
    """

    async def serve() -> None:
        encryption, settings = load(PayloadEncryptionSettings), load(CodecServerSettings)
        if not encryption.enabled:
            raise ConfigurationError(
                "configuration error: TEMPORAL_PAYLOAD_ENCRYPTION_KEYS is required by the "
                "codec server"
            )
        app = codec_app(AesGcmPayloadCodec.from_settings(encryption), settings)
        config = uvicorn.Config(
            app, host=host or settings.host, port=port or settings.port, log_config=None
        )
        await uvicorn.Server(config).serve()

    run(serve())
