"""Control routes that seed and inspect the WHMCS emulator (next to the shared ones)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.core import CONTROL_PREFIX
from emulators.whmcs.records import ApiCredential, NewClient, NewProduct, PayMethodFields
from emulators.whmcs.state import WhmcsApiError, WhmcsState

Endpoint = Callable[[Request], Awaitable[Response]]

_CREDENTIALS = TypeAdapter(list[ApiCredential])
_IPS = TypeAdapter(list[str])


def whmcs_control_routes(state: WhmcsState) -> list[Route]:
    async def create_client(request: Request) -> Response:
        client = state.add_client(NewClient.model_validate(await request.json()))
        return JSONResponse(client.model_dump(mode="json"), status_code=201)

    async def add_pay_method(request: Request) -> Response:
        fields = PayMethodFields.model_validate(await request.json())
        pay_method = state.add_pay_method(request.path_params["client_id"], fields)
        return JSONResponse(pay_method.model_dump(mode="json"), status_code=201)

    async def remove_pay_methods(request: Request) -> Response:
        state.remove_pay_methods(request.path_params["client_id"])
        return Response(status_code=204)

    async def remove_pay_method(request: Request) -> Response:
        params = request.path_params
        state.remove_pay_methods(params["client_id"], params["pay_method_id"])
        return Response(status_code=204)

    async def add_product(request: Request) -> Response:
        product = state.add_product(NewProduct.model_validate(await request.json()))
        return JSONResponse(product.model_dump(mode="json"), status_code=201)

    async def list_orders(request: Request) -> Response:
        client_id = request.query_params.get("client_id")
        orders = state.orders(client_id=int(client_id) if client_id else None)
        return JSONResponse([order.model_dump(mode="json") for order in orders])

    async def set_credentials(request: Request) -> Response:
        state.set_credentials(_CREDENTIALS.validate_python(await request.json()))
        return Response(status_code=204)

    async def set_allowed_ips(request: Request) -> Response:
        state.set_allowed_ips(_IPS.validate_python(await request.json()))
        return Response(status_code=204)

    client_path = f"{CONTROL_PREFIX}/clients/{{client_id:int}}"
    routes: list[tuple[str, Endpoint, str]] = [
        (f"{CONTROL_PREFIX}/clients", create_client, "POST"),
        (f"{client_path}/paymethods", add_pay_method, "POST"),
        (f"{client_path}/paymethods", remove_pay_methods, "DELETE"),
        (f"{client_path}/paymethods/{{pay_method_id:int}}", remove_pay_method, "DELETE"),
        (f"{CONTROL_PREFIX}/products", add_product, "POST"),
        (f"{CONTROL_PREFIX}/orders", list_orders, "GET"),
        (f"{CONTROL_PREFIX}/credentials", set_credentials, "PUT"),
        (f"{CONTROL_PREFIX}/allowed-ips", set_allowed_ips, "PUT"),
    ]
    return [
        Route(path, _with_error_statuses(endpoint), methods=[method])
        for path, endpoint, method in routes
    ]


def _with_error_statuses(endpoint: Endpoint) -> Endpoint:
    """Bad seed data -> 422, an unknown client or pay method -> 404, both with a reason."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except WhmcsApiError as error:
            return JSONResponse({"error": error.message}, status_code=404)
        except ValueError as error:  # pydantic's ValidationError included
            return JSONResponse({"error": str(error)}, status_code=422)

    return guarded
