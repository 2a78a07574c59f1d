"""Control routes that seed and inspect the WHMCS emulator (next to the shared ones)."""

from __future__ import annotations

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.core import Endpoint, guarded_control_routes
from emulators.whmcs.access import ApiAccess
from emulators.whmcs.records import (
    AccessKey,
    AllowedIps,
    ApiCredential,
    NewClient,
    NewProduct,
    OrderNotes,
    PayMethodFields,
    WhmcsVersion,
)
from emulators.whmcs.state import WhmcsApiError, WhmcsState

_CREDENTIALS = TypeAdapter(list[ApiCredential])


def whmcs_control_routes(state: WhmcsState, access: ApiAccess) -> list[Route]:
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

    async def list_products(request: Request) -> Response:
        return JSONResponse([product.model_dump(mode="json") for product in state.products()])

    async def list_orders(request: Request) -> Response:
        client_id = request.query_params.get("client_id")
        orders = state.orders(client_id=int(client_id) if client_id else None)
        return JSONResponse([order.model_dump(mode="json") for order in orders])

    async def set_credentials(request: Request) -> Response:
        access.set_credentials(_CREDENTIALS.validate_python(await request.json()))
        return Response(status_code=204)

    async def set_allowed_ips(request: Request) -> Response:
        access.set_allowed_ips(AllowedIps.model_validate(await request.json()).ips)
        return Response(status_code=204)

    async def set_version(request: Request) -> Response:
        state.set_version(WhmcsVersion.model_validate(await request.json()).version)
        return Response(status_code=204)

    async def set_access_key(request: Request) -> Response:
        access.set_access_key(AccessKey.model_validate(await request.json()).access_key)
        return Response(status_code=204)

    async def set_order_notes(request: Request) -> Response:
        state.set_store_order_notes(OrderNotes.model_validate(await request.json()).store)
        return Response(status_code=204)

    client_path = "/clients/{client_id:int}"
    routes: list[tuple[str, Endpoint, str]] = [
        ("/clients", create_client, "POST"),
        (f"{client_path}/paymethods", add_pay_method, "POST"),
        (f"{client_path}/paymethods", remove_pay_methods, "DELETE"),
        (f"{client_path}/paymethods/{{pay_method_id:int}}", remove_pay_method, "DELETE"),
        ("/products", add_product, "POST"),
        ("/products", list_products, "GET"),
        ("/orders", list_orders, "GET"),
        ("/credentials", set_credentials, "PUT"),
        ("/allowed-ips", set_allowed_ips, "PUT"),
        ("/access-key", set_access_key, "PUT"),
        ("/version", set_version, "PUT"),
        ("/order-notes", set_order_notes, "PUT"),
    ]
    return guarded_control_routes(routes, not_found=WhmcsApiError)
