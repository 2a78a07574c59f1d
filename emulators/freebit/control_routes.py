"""Control routes that seed, configure and inspect the Freebit emulator."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.core import Endpoint, guarded_control_routes
from emulators.freebit.records import BehaviourUpdate, NewSimAccount, OemCredentials, TimingUpdate
from emulators.freebit.refusals import FreebitApiError

if TYPE_CHECKING:
    from emulators.freebit.app import FreebitEmulator


_PLAN_CODES = TypeAdapter(list[str])


class ClockAdvance(BaseModel):
    seconds: float = Field(gt=0)


def freebit_control_routes(emulator: FreebitEmulator) -> list[Route]:
    async def set_oem_credentials(request: Request) -> Response:
        emulator.auth_keys.set_credentials(OemCredentials.model_validate(await request.json()))
        return Response(status_code=204)

    async def expire_auth_keys(_: Request) -> Response:
        emulator.auth_keys.expire_all()
        return Response(status_code=204)

    async def update_timing(request: Request) -> Response:
        timing = emulator.update_timing(TimingUpdate.model_validate(await request.json()))
        return JSONResponse(timing.model_dump(mode="json"))

    async def update_behaviour(request: Request) -> Response:
        behaviour = emulator.update_behaviour(BehaviourUpdate.model_validate(await request.json()))
        return JSONResponse(behaviour.model_dump(mode="json"))

    async def set_plan_codes(request: Request) -> Response:
        emulator.accounts.set_plan_codes(_PLAN_CODES.validate_python(await request.json()))
        return Response(status_code=204)

    async def add_account(request: Request) -> Response:
        record = emulator.accounts.add(NewSimAccount.model_validate(await request.json()))
        return JSONResponse(record.model_dump(mode="json"), status_code=201)

    async def get_account(request: Request) -> Response:
        record = emulator.accounts.snapshot(request.path_params["account"], emulator.clock.now())
        return JSONResponse(record.model_dump(mode="json"))

    async def get_clock(_: Request) -> Response:
        return JSONResponse({"now": emulator.clock.now().isoformat()})

    async def advance_clock(request: Request) -> Response:
        advance = ClockAdvance.model_validate(await request.json())
        now = emulator.clock.advance(timedelta(seconds=advance.seconds))
        return JSONResponse({"now": now.isoformat()})

    async def list_operations(request: Request) -> Response:
        operations = emulator.accounts.operations(request.query_params.get("account"))
        return JSONResponse([operation.model_dump(mode="json") for operation in operations])

    async def list_requests(request: Request) -> Response:
        requests = emulator.request_log.requests(request.query_params.get("operation"))
        return JSONResponse([recorded.model_dump(mode="json") for recorded in requests])

    routes: list[tuple[str, Endpoint, str]] = [
        ("/oem-credentials", set_oem_credentials, "PUT"),
        ("/auth-keys/expire", expire_auth_keys, "POST"),
        ("/timing", update_timing, "PATCH"),
        ("/behaviour", update_behaviour, "PATCH"),
        ("/plan-codes", set_plan_codes, "PUT"),
        ("/accounts", add_account, "POST"),
        ("/accounts/{account}", get_account, "GET"),
        ("/clock", get_clock, "GET"),
        ("/clock/advance", advance_clock, "POST"),
        ("/operations", list_operations, "GET"),
        ("/requests", list_requests, "GET"),
    ]
    return guarded_control_routes(routes, not_found=FreebitApiError)
