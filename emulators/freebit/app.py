"""The Freebit emulator: `POST {API_PREFIX}{path}` with one form field `json` holding a JSON
object, plus the control API under `/__emulator/`.

`/authOem/` answers an `authKey`; every other operation must carry a valid one inside its
`json`. Answers are HTTP 200 with `resultCode` "100" or a refusal (see `refusals`). What no
spec states (whether a login invalidates older authKeys, the resultCodes of an expired authKey
and of a locked account) is its `FreebitBehaviour`, which the control API can change.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.core import EmulatorCore
from emulators.faults import FaultKind
from emulators.freebit.accounts import SimAccounts
from emulators.freebit.auth_keys import AuthKeys
from emulators.freebit.clock import EmulatorClock
from emulators.freebit.control_routes import freebit_control_routes
from emulators.freebit.operations import ACCOUNT_OPERATIONS
from emulators.freebit.records import (
    BehaviourUpdate,
    FreebitBehaviour,
    FreebitTiming,
    OemCredentials,
    RecordedRequest,
    TimingUpdate,
)
from emulators.freebit.refusals import ConfigurableRefusal, FreebitApiError, invalid_request
from emulators.freebit.request_log import RequestLog
from emulators.proxy_faults import answer_fault_before_call, gateway_timeout_after

Json = dict[str, Any]

API_PREFIX = "/emptool/api"
AUTH_OPERATION = "auth"
DEFAULT_CREDENTIALS = OemCredentials()
DEFAULT_PLAN_CODES = ("PASI_2GB", "PASI_5GB", "PASI_10GB", "PASI_20GB", "PASI_50GB")
DEFAULT_PATHS: Mapping[str, str] = {
    AUTH_OPERATION: "/authOem/",
    "getDetail": "/mvno/getDetail/",
    "getTrafficInfo": "/mvno/getTrafficInfo/",
    "addSpec": "/master/addSpec/",
    "changePlan": "/mvno/changePlan/",
    "talkOption": "/mvno/talkoption/changeOrder/",
    "contractLine": "/mvno/contractline/change/",
    "cancel": "/master/cnclAcnt/",
}
"""Operation name (also the fault target and call-count key) -> path below API_PREFIX."""

_OK: Json = {"resultCode": "100", "status": {"message": "OK", "statusCode": "200"}}


class FreebitEmulator:
    """In-memory Freebit; the constructor's arguments are what it returns to on every reset."""

    def __init__(
        self,
        credentials: OemCredentials = DEFAULT_CREDENTIALS,
        *,
        timing: FreebitTiming | None = None,
        plan_codes: Iterable[str] = DEFAULT_PLAN_CODES,
        paths: Mapping[str, str] | None = None,
        behaviour: FreebitBehaviour | None = None,
    ) -> None:
        self._initial_credentials = credentials
        self._initial_timing = timing or FreebitTiming()
        self._initial_behaviour = behaviour or FreebitBehaviour()
        self._initial_plan_codes = tuple(plan_codes)
        self._paths = {**DEFAULT_PATHS, **(paths or {})}
        self.core = EmulatorCore()
        self.reset_state()

    def asgi_app(self) -> Starlette:
        api_routes = [
            Route(f"{API_PREFIX}{path}", self._endpoint(operation), methods=["POST"])
            for operation, path in self._paths.items()
        ]
        return Starlette(
            routes=[
                *api_routes,
                *self.core.control_routes(self.reset_state),
                *freebit_control_routes(self),
            ]
        )

    def reset_state(self) -> None:
        self.timing = self._initial_timing
        self.behaviour = self._initial_behaviour
        self.clock = EmulatorClock()
        self.auth_keys = AuthKeys(
            self._initial_credentials,
            self.timing.auth_key_ttl,
            login_invalidates_older_keys=self.behaviour.login_invalidates_older_keys,
        )
        self.accounts = SimAccounts(self.timing, self._initial_plan_codes)
        self.request_log = RequestLog()

    def update_timing(self, update: TimingUpdate) -> FreebitTiming:
        self.timing = self.timing.model_copy(update=update.model_dump(exclude_none=True))
        self.auth_keys.set_ttl(self.timing.auth_key_ttl)
        self.accounts.set_timing(self.timing)
        return self.timing

    def update_behaviour(self, update: BehaviourUpdate) -> FreebitBehaviour:
        self.behaviour = self.behaviour.model_copy(update=update.model_dump(exclude_none=True))
        self.auth_keys.set_login_invalidates_older_keys(self.behaviour.login_invalidates_older_keys)
        return self.behaviour

    def _endpoint(self, operation: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await self._handle(request, operation)

        return handle

    async def _handle(self, request: Request, operation: str) -> Response:
        self.core.record_call(operation)
        form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        body = _json_field(form)
        self.request_log.add(
            RecordedRequest(
                operation=operation,
                path=request.url.path,
                form_fields=[name for name, _ in form],
                body=body,
                received_at=self.clock.now(),
            )
        )
        fault = self.core.faults.take(operation)
        fault_response = await answer_fault_before_call(fault) if fault else None
        if fault_response is not None:
            return fault_response
        response = JSONResponse(self._answer(operation, body))
        if fault is not None and fault.kind is FaultKind.COMMIT_THEN_TIMEOUT:
            return await gateway_timeout_after(fault)
        return response

    def _answer(self, operation: str, body: Json | None) -> Json:
        try:
            if body is None:
                raise invalid_request('form field "json" must hold one JSON object')
            return {**_OK, **self._perform(operation, body, self.clock.now())}
        except FreebitApiError as refusal:
            return {
                "resultCode": self._result_code(refusal),
                "status": {"message": refusal.message, "statusCode": refusal.status_code},
            }

    def _result_code(self, refusal: FreebitApiError) -> str:
        behaviour = self.behaviour
        match refusal.configurable:
            case ConfigurableRefusal.AUTH_KEY_REJECTED:
                return behaviour.auth_key_rejected_code
            case ConfigurableRefusal.ACCOUNT_LOCKED:
                return behaviour.account_locked_code
            case None:
                return refusal.result_code

    def _perform(self, operation: str, body: Json, now: datetime) -> Json:
        if operation == AUTH_OPERATION:
            return {"authKey": self.auth_keys.issue(body.get("oemId"), body.get("oemKey"), now)}
        self.auth_keys.check(body.get("authKey"), now)
        return ACCOUNT_OPERATIONS[operation](self.accounts, body, now)


def _json_field(form: list[tuple[str, str]]) -> Json | None:
    """The object in the one `json` field, or None when there is no such single object."""
    values = [value for name, value in form if name == "json"]
    if len(values) != 1:
        return None
    try:
        body = json.loads(values[0])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
