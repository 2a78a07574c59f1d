"""Control routes of the Pub/Sub API under `/__emulator/pubsub/`: its settings, its open
streams, and the server-closed-stream fault."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.core import CONTROL_PREFIX
from emulators.salesforce.pubsub.service import PubSubService

PREFIX = f"{CONTROL_PREFIX}/pubsub"


class PubSubSettings(BaseModel):
    keepalive_seconds: float | None = Field(default=None, gt=0)
    idle_close_seconds: float | None = Field(default=None, gt=0)


def pubsub_control_routes(service: PubSubService) -> list[Route]:
    async def change_settings(request: Request) -> Response:
        try:
            settings = PubSubSettings.model_validate_json(await request.body())
        except ValueError as error:
            return JSONResponse({"detail": str(error)}, status_code=400)
        if settings.keepalive_seconds is not None:
            service.keepalive_seconds = settings.keepalive_seconds
        if settings.idle_close_seconds is not None:
            service.idle_close_seconds = settings.idle_close_seconds
        return Response(status_code=204)

    async def list_streams(_: Request) -> Response:
        return JSONResponse(service.streams())

    async def close_streams(_: Request) -> Response:
        service.close_streams()
        return Response(status_code=204)

    return [
        Route(f"{PREFIX}/settings", change_settings, methods=["PUT"]),
        Route(f"{PREFIX}/streams", list_streams, methods=["GET"]),
        Route(f"{PREFIX}/streams", close_streams, methods=["DELETE"]),
    ]
