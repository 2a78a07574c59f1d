"""The WHMCS emulator: `POST /includes/api.php` plus the control API under `/__emulator/`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.core import EmulatorCore
from emulators.faults import FaultKind
from emulators.proxy_faults import answer_fault_before_call, gateway_timeout_after
from emulators.whmcs.access import REFUSAL_STATUS, ApiAccess
from emulators.whmcs.actions import perform_action
from emulators.whmcs.control_routes import whmcs_control_routes
from emulators.whmcs.php_form import PhpForm
from emulators.whmcs.records import ApiCredential
from emulators.whmcs.state import WhmcsApiError, WhmcsState

API_PATH = "/includes/api.php"
DEFAULT_CREDENTIAL = ApiCredential(identifier="emulator-identifier", secret="emulator-secret")


class WhmcsEmulator:
    """In-memory WHMCS; `credential` is what it accepts after start and after every reset."""

    def __init__(self, credential: ApiCredential = DEFAULT_CREDENTIAL) -> None:
        self.state = WhmcsState()
        self.access = ApiAccess(credential)
        self.core = EmulatorCore()

    def asgi_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(API_PATH, self._handle_api_request, methods=["POST"]),
                *self.core.control_routes(self._reset),
                *whmcs_control_routes(self.state, self.access),
            ]
        )

    async def _handle_api_request(self, request: Request) -> Response:
        form = PhpForm(await request.body())
        action = form.get("action")
        self.core.record_call(action)
        fault = self.core.faults.take(action)
        fault_response = await answer_fault_before_call(fault) if fault is not None else None
        if fault_response is not None:
            return fault_response
        response = self._answer(request, form, action)
        if fault is not None and fault.kind is FaultKind.COMMIT_THEN_TIMEOUT:
            return await gateway_timeout_after(fault)
        return response

    def _reset(self) -> None:
        self.state.reset()
        self.access.reset()

    def _answer(self, request: Request, form: PhpForm, action: str) -> Response:
        refusal = self.access.refusal(
            client_ip=request.client.host if request.client else "",
            # "?...&accesskey=..." in the Access Control page's example; a form field as well
            access_key=form.get("accesskey") or request.query_params.get("accesskey", ""),
            identifier=form.get("identifier"),
            secret=form.get("secret"),
            action=action,
        )
        if refusal is not None:
            return _error(refusal, status_code=REFUSAL_STATUS)
        try:
            return JSONResponse(perform_action(self.state, action, form))
        except WhmcsApiError as error:
            return _error(error.message)


def _error(message: str, *, status_code: int = 200) -> Response:
    return JSONResponse({"result": "error", "message": message}, status_code=status_code)
