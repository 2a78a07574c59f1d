"""Async client for the WHMCS API (`POST api.php`, form-encoded, JSON answers).

Every failure becomes an `IntegrationError` whose `code` an operator can act on:
ETIMEOUT, ECONNECTION, EBADRESPONSE, 429, 5xx, ERATELIMIT (no turn under
WHMCS_RATE_LIMIT_PER_SECOND within the timeout: nothing sent) (transient); AUTH, WHMCS
(business).

WHMCS checks access in three steps, each refusal an HTTP 403 with a message of its own (the
pages name the checks, not the texts; emulators/whmcs/access.py shows where the texts come
from): the caller's IP, or the `accesskey` that bypasses it ("Access Control",
https://developers.whmcs.com/api/access-control/): "Invalid IP x.x.x.x", "Invalid Access
Key"; the API credential ("Authentication", https://developers.whmcs.com/api/authentication/):
"Invalid or missing credentials" (no such identifier, e.g. deleted after a rotation),
"Authentication Failed" (wrong secret). These four are `AuthenticationError`, so a credential
promoted meanwhile in the secret store is tried once. Then the credential's API roles ("API
Credentials", https://docs.whmcs.com/Manage_API_Credentials): `Invalid Permissions: API action
"addorder" is not allowed` is `ApiActionNotAllowedError`, naming the action to allow.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from contracts.provisioning import AddOrderResult
from integrations.config import WhmcsSettings
from integrations.errors import (
    AuthenticationError,
    BusinessError,
    IntegrationError,
    TransientError,
)
from integrations.rate_limited_http import rate_limited_http
from integrations.secrets.material import WhmcsApiKey
from integrations.secrets.provider import CredentialSource
from integrations.secrets.store import Credential
from integrations.vendor_rate_limit import AsyncVendorRateLimit
from integrations.whmcs.models import (
    AddOrderRequest,
    ClientsPage,
    OrdersPage,
    PayMethod,
    WhmcsClientSummary,
    WhmcsOrder,
    WhmcsProduct,
)

log = structlog.get_logger(__name__)

Json = dict[str, Any]

ORDER_NOT_PENDING_MESSAGE = "Order ID not found or Status not Pending"
_AUTHENTICATION_MESSAGES = (
    "Invalid IP",
    "Invalid Access Key",
    "Invalid or missing credentials",
    "Authentication Failed",
)
_ACTION_NOT_ALLOWED = re.compile(r'^Invalid Permissions: API action "[^"]*" is not allowed')
API_ROLES_LOCATION = "WHMCS Admin > Configuration > System Settings > Manage API Credentials"
ORDERS_PAGE_SIZE = 25


class OrderNotPendingError(BusinessError):
    """AcceptOrder refused: the order does not exist or is no longer Pending."""


class ApiActionNotAllowedError(BusinessError):
    """No API role of the credential allows `action` ("API Credentials" > API Roles,
    https://docs.whmcs.com/Manage_API_Credentials); an operator has to allow it."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(
            "WHMCS",
            f"{message}: allow the API action {action} in an API role of this API credential "
            f"({API_ROLES_LOCATION} > API Roles)",
        )
        self.action = action


class WhmcsClient:
    def __init__(
        self,
        settings: WhmcsSettings,
        *,
        credentials: CredentialSource | None = None,
        rate_limit: AsyncVendorRateLimit | None = None,
    ) -> None:
        """`credentials`: the identifier/secret (`WhmcsApiKey` bytes) to send, e.g. the secret
        store's active version; default: WHMCS_API_IDENTIFIER / WHMCS_API_SECRET.
        `rate_limit`: WHMCS_RATE_LIMIT_PER_SECOND, which every request takes a turn under."""
        self._settings = settings
        self._credentials = credentials or CredentialSource(
            WhmcsApiKey(identifier=settings.api_identifier, secret=settings.api_secret).to_bytes
        )
        self._http = rate_limited_http(settings.timeout / 1000, rate_limit)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get_clients(self, *, limit: int = 1, search: str | None = None) -> ClientsPage:
        params = {"limitnum": str(limit)}
        if search is not None:
            params["search"] = search
        body = await self._call("GetClients", params)
        return ClientsPage(
            total_results=body["totalresults"],
            clients=[
                WhmcsClientSummary.model_validate(client)
                for client in _nested_list(body, "clients", "client")
            ],
        )

    async def get_pay_methods(self, client_id: int) -> list[PayMethod]:
        body = await self._call("GetPayMethods", {"clientid": str(client_id)})
        return [PayMethod.model_validate(method) for method in body.get("paymethods") or []]

    async def get_products(self, product_ids: Iterable[int]) -> list[WhmcsProduct]:
        """The products among `product_ids` that exist ("GetProducts",
        https://developers.whmcs.com/api-reference/getproducts/)."""
        pids = ",".join(str(product_id) for product_id in sorted(set(product_ids)))
        body = await self._call("GetProducts", {"pid": pids})
        return [
            _product_from_json(product) for product in _nested_list(body, "products", "product")
        ]

    async def get_orders(
        self,
        *,
        order_id: int | None = None,
        client_id: int | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = ORDERS_PAGE_SIZE,
    ) -> OrdersPage:
        filters = {"id": order_id, "userid": client_id, "status": status}
        params = {name: str(value) for name, value in filters.items() if value is not None}
        params |= {"limitstart": str(offset), "limitnum": str(limit)}
        body = await self._call("GetOrders", params)
        return OrdersPage(
            total_results=body["totalresults"],
            orders=[_order_from_json(order) for order in _nested_list(body, "orders", "order")],
        )

    async def find_order_by_note(self, client_id: int, note: str) -> WhmcsOrder | None:
        """The client's order whose notes have `note` as one of their lines, if any.

        A whole-line match tolerates notes an operator appends later, and keeps a 15-character
        Salesforce id from matching an 18-character one that starts with it.
        """
        offset = 0
        while True:
            page = await self.get_orders(client_id=client_id, offset=offset)
            for order in page.orders:
                if note in (line.strip() for line in order.notes.splitlines()):
                    return order
            offset += len(page.orders)
            if not page.orders or offset >= page.total_results:
                return None

    async def add_order(self, request: AddOrderRequest) -> AddOrderResult:
        body = await self._call("AddOrder", _add_order_params(request))
        service_ids = str(body.get("serviceids") or "")
        return AddOrderResult(
            order_id=body["orderid"],
            service_ids=[int(service_id) for service_id in service_ids.split(",") if service_id],
            invoice_id=int(body.get("invoiceid") or 0) or None,
        )

    async def version(self) -> str:
        """The installation's version ("WhmcsDetails",
        https://developers.whmcs.com/api-reference/whmcsdetails/)."""
        body = await self._call("WhmcsDetails", {})
        details = body.get("whmcs")
        return str(details.get("version", "")) if isinstance(details, dict) else ""

    async def cancel_order(self, order_id: int) -> None:
        """Cancel a Pending order ("CancelOrder",
        https://developers.whmcs.com/api-reference/cancelorder/)."""
        await self._call("CancelOrder", {"orderid": str(order_id), "noemail": "true"})

    async def accept_order(self, order_id: int) -> None:
        try:
            await self._call("AcceptOrder", {"orderid": str(order_id)})
        except BusinessError as error:
            if error.message == ORDER_NOT_PENDING_MESSAGE:
                raise OrderNotPendingError(error.code, error.message) from error
            raise

    async def _call(self, action: str, params: dict[str, str]) -> Json:
        started = time.monotonic()
        try:
            body = await self._post(action, params)
        except IntegrationError as error:
            log.warning("whmcs call failed", action=action, code=error.code, **_elapsed(started))
            raise
        log.debug("whmcs call", action=action, result="success", **_elapsed(started))
        return body

    async def _post(self, action: str, params: dict[str, str]) -> Json:
        """With the current credential; once more with a newer one if it was rejected and the
        store has one by now (a refused request was not carried out, so this is safe)."""
        credential = await self._credentials.current_async()
        try:
            return await self._post_with(credential, action, params)
        except AuthenticationError:
            newer = await self._credentials.after_rejection_async(credential)
            if newer is None:
                raise
            return await self._post_with(newer, action, params)

    async def _post_with(self, credential: Credential, action: str, params: dict[str, str]) -> Json:
        key = WhmcsApiKey.from_bytes(credential.value)
        form = {
            "identifier": key.identifier.get_secret_value(),
            "secret": key.secret.get_secret_value(),
            "action": action,
            "responsetype": "json",
            **params,
        }
        if self._settings.access_key is not None:  # "Access Control": passed with every call
            form["accesskey"] = self._settings.access_key.get_secret_value()
        try:
            response = await self._http.post(self._settings.api_url, data=form)
        except httpx.TimeoutException as error:
            timeout_ms = self._settings.timeout
            raise TransientError("ETIMEOUT", f"{action} timed out after {timeout_ms} ms") from error
        except httpx.TransportError as error:
            raise TransientError("ECONNECTION", f"{action}: {error!r}") from error
        return _interpret(action, response)


def _interpret(action: str, response: httpx.Response) -> Json:
    status = response.status_code
    if status == 429:
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        raise TransientError("429", f"{action} rate limited", retry_after=retry_after)
    if status >= 500:
        raise TransientError(str(status), f"{action} failed with HTTP {status}")
    body = _json_body(response)
    if body is None:
        if status == 403:
            raise AuthenticationError("AUTH", f"{action} forbidden (HTTP 403)")
        if status != 200:
            raise BusinessError(str(status), f"{action} failed with HTTP {status}")
        raise TransientError("EBADRESPONSE", f"{action} answered something other than JSON")
    if body.get("result") != "success":
        raise _refusal(action, str(body.get("message") or f"{action} failed (HTTP {status})"))
    return body


def _refusal(action: str, message: str) -> BusinessError:
    if message.startswith(_AUTHENTICATION_MESSAGES):
        return AuthenticationError("AUTH", message)
    if _ACTION_NOT_ALLOWED.match(message):
        return ApiActionNotAllowedError(action, message)
    return BusinessError("WHMCS", message)


def _json_body(response: httpx.Response) -> Json | None:
    try:
        body = response.json()
    except ValueError:  # JSONDecodeError, or bytes that are not text at all
        return None
    return body if isinstance(body, dict) else None


def _retry_after_seconds(header: str | None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date."""
    if header is None:
        return None
    if header.strip().isdigit():
        return float(header)
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


def _add_order_params(request: AddOrderRequest) -> dict[str, str]:
    params = {"clientid": str(request.client_id), "paymentmethod": request.payment_method}
    if request.notes is not None:
        params["notes"] = request.notes
    # One line per unit: `qty[]` exists only from WHMCS 8.12, and a product set to one
    # service per unit then makes several services of a line ("AddOrder",
    # https://developers.whmcs.com/api-reference/addorder/); `pid[]` lines work everywhere.
    units = [line for line in request.lines for _ in range(line.quantity)]
    for index, line in enumerate(units):
        params[f"pid[{index}]"] = str(line.product_id)
        params[f"billingcycle[{index}]"] = line.billing_cycle.lower()
    # WHMCS reads these flags with PHP truthiness, where "false" is true: omit to say no.
    if request.no_invoice:
        params["noinvoice"] = "true"
    if request.no_email:
        params["noemail"] = "true"
    return params


RECURRING_CYCLES = ("monthly", "quarterly", "semiannually", "annually", "biennially", "triennially")
UNAVAILABLE_PRICE = -1.0
"""A product's price in a cycle it is not sold in (WHMCS stores -1.00)."""


def _product_from_json(product: Json) -> WhmcsProduct:
    """Free and one-time products have one cycle, named after their pay type; a recurring
    one is sold in the cycles that have a price in some currency."""
    pay_type = str(product.get("paytype") or "recurring").lower()
    if pay_type in ("free", "onetime"):
        cycles = frozenset({pay_type})
    else:
        prices = [p for p in (product.get("pricing") or {}).values() if isinstance(p, dict)]
        cycles = frozenset(
            cycle
            for cycle in RECURRING_CYCLES
            if any(_price(currency.get(cycle)) > UNAVAILABLE_PRICE for currency in prices)
        )
    return WhmcsProduct(id=product["pid"], name=product.get("name") or "", billing_cycles=cycles)


def _price(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return UNAVAILABLE_PRICE


def _order_from_json(order: Json) -> WhmcsOrder:
    line_items = _nested_list(order, "lineitems", "lineitem")
    return WhmcsOrder(
        id=order["id"],
        client_id=order["userid"],
        status=order["status"],
        notes=order.get("notes") or "",
        service_ids=[item["relid"] for item in line_items if item.get("type") == "product"],
    )


def _nested_list(body: Json, container: str, item_key: str) -> list[Json]:
    """WHMCS wraps lists (`{"orders": {"order": [...]}}`) and may send "" when empty."""
    wrapper = body.get(container)
    items = wrapper.get(item_key) if isinstance(wrapper, dict) else None
    return items if isinstance(items, list) else []


def _elapsed(started: float) -> dict[str, int]:
    return {"duration_ms": round((time.monotonic() - started) * 1000)}
