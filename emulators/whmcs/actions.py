"""The WHMCS API actions the project uses, answered in WHMCS's JSON shapes.

Parameters are read with PHP's loose rules (`(int)"abc"` is 0, any non-empty string other
than "0" is true) and numbers go out as strings, because that is what real WHMCS does and
what the production client must cope with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from emulators.whmcs.php_form import PhpForm
from emulators.whmcs.records import (
    ClientRecord,
    OrderRecord,
    PayMethodRecord,
    ProductRecord,
    ServiceRecord,
)
from emulators.whmcs.state import (
    RECURRING_CYCLES,
    OrderDraft,
    OrderLineDraft,
    WhmcsApiError,
    WhmcsState,
)

Json = dict[str, Any]
ActionHandler = Callable[[WhmcsState, PhpForm], Json]
RecordT = TypeVar("RecordT")

DEFAULT_PAGE_SIZE = 25
_LEADING_INTEGER = re.compile(r"^\s*([+-]?\d+)")
_BILLING_CYCLE_LABELS = {
    "free": "Free Account",
    "onetime": "One Time",
    "semiannually": "Semi-Annually",
}


def perform_action(state: WhmcsState, action: str, form: PhpForm) -> Json:
    """Run one action; refusals raise `WhmcsApiError` with WHMCS's message."""
    handler = _ACTIONS.get(action)
    if handler is None:
        raise WhmcsApiError("Command Not Found")
    return {"result": "success", **handler(state, form)}


def _get_clients(state: WhmcsState, form: PhpForm) -> Json:
    clients = state.clients(form.get("search") or None)
    return _paged(clients, form, "clients", "client", _client_json)


def _get_pay_methods(state: WhmcsState, form: PhpForm) -> Json:
    client_id = _php_int(form.get("clientid"))
    pay_methods = state.pay_methods(client_id)
    return {
        "clientid": str(client_id),
        "paymethods": [_pay_method_json(client_id, method) for method in pay_methods],
    }


CURRENCY = "JPY"


def _get_products(state: WhmcsState, form: PhpForm) -> Json:
    """`pid`: one id or a comma-separated list ("GetProducts",
    https://developers.whmcs.com/api-reference/getproducts/)."""
    requested = form.get("pid")
    ids = {_php_int(part) for part in requested.split(",")} if requested else None
    products = [_product_json(product) for product in state.products(ids)]
    return {
        "totalresults": len(products),
        "startnumber": 0,
        "numreturned": len(products),
        "products": {"product": products},
    }


def _product_json(product: ProductRecord) -> Json:
    """A price of -1.00 marks a cycle the product is not sold in."""
    price = f"{product.price:.2f}"
    cycles = {
        cycle: price if product.pay_type == "onetime" and cycle == "monthly" else "-1.00"
        for cycle in RECURRING_CYCLES
    }
    if product.pay_type == "recurring":
        cycles |= {cycle: price for cycle in product.billing_cycles}
    return {
        "pid": product.id,
        "gid": 1,
        "type": product.type.lower(),
        "name": product.name,
        "description": "",
        "module": "",
        "paytype": product.pay_type,
        "pricing": {CURRENCY: {"prefix": "¥", "suffix": "", **cycles}},
    }


def _get_orders(state: WhmcsState, form: PhpForm) -> Json:
    orders = state.orders(
        order_id=_php_int(form.get("id")) or None,
        client_id=_php_int(form.get("userid")) or None,
        status=form.get("status") or None,
    )
    return _paged(orders, form, "orders", "order", _order_json)


def _add_order(state: WhmcsState, form: PhpForm) -> Json:
    order = state.add_order(
        OrderDraft(
            client_id=_php_int(form.get("clientid")),
            lines=_order_lines(form, read_quantities=state.reads_quantities),
            payment_method=form.get("paymentmethod"),
            notes=form.get("notes"),
            create_invoice=not _php_bool(form.get("noinvoice")),
        )
    )
    return {
        "orderid": str(order.id),
        "serviceids": ",".join(str(service.id) for service in order.services),
        "addonids": "",
        "domainids": "",
        "invoiceid": str(order.invoice_id),
    }


def _accept_order(state: WhmcsState, form: PhpForm) -> Json:
    state.accept_order(_php_int(form.get("orderid")))
    return {}


def _cancel_order(state: WhmcsState, form: PhpForm) -> Json:
    """Cancel a Pending order ("CancelOrder",
    https://developers.whmcs.com/api-reference/cancelorder/)."""
    state.cancel_order(_php_int(form.get("orderid")))
    return {}


def _whmcs_details(state: WhmcsState, form: PhpForm) -> Json:
    """The installation's version ("WhmcsDetails",
    https://developers.whmcs.com/api-reference/whmcsdetails/)."""
    return {"whmcs": {"version": state.version, "canonicalversion": f"{state.version}-release.1"}}


_ACTIONS: dict[str, ActionHandler] = {
    "GetClients": _get_clients,
    "GetPayMethods": _get_pay_methods,
    "GetProducts": _get_products,
    "GetOrders": _get_orders,
    "AddOrder": _add_order,
    "AcceptOrder": _accept_order,
    "CancelOrder": _cancel_order,
    "WhmcsDetails": _whmcs_details,
}


def _order_lines(form: PhpForm, *, read_quantities: bool) -> list[OrderLineDraft]:
    """Lines are the `pid` entries; `billingcycle` and `qty` pair with them by index."""
    billing_cycles = form.array("billingcycle")
    quantities = form.array("qty") if read_quantities else {}
    return [
        OrderLineDraft(
            product_id=_php_int(product_id),
            billing_cycle=billing_cycles.get(index, ""),
            quantity=max(_php_int(quantities.get(index, "1")), 1),
        )
        for index, product_id in form.array("pid").items()
    ]


def _paged(
    records: Sequence[RecordT],
    form: PhpForm,
    container: str,
    item_key: str,
    render: Callable[[RecordT], Json],
) -> Json:
    start = max(_php_int(form.get("limitstart")), 0)
    size = max(_php_int(form.get("limitnum", str(DEFAULT_PAGE_SIZE))), 0)
    page = records[start : start + size]
    return {
        "totalresults": str(len(records)),
        "startnumber": str(start),
        "numreturned": str(len(page)),
        container: {item_key: [render(record) for record in page]},
    }


def _client_json(client: ClientRecord) -> Json:
    return {
        "id": str(client.id),
        "firstname": client.firstname,
        "lastname": client.lastname,
        "companyname": client.companyname,
        "email": client.email,
        "datecreated": client.datecreated.isoformat(),
        "groupid": str(client.groupid),
        "status": client.status,
    }


def _pay_method_json(client_id: int, method: PayMethodRecord) -> Json:
    return {
        "id": str(method.id),
        "type": method.type,
        "description": method.description,
        "gateway_name": method.gateway_name,
        "contact_type": "Client",
        "contact_id": str(client_id),
        "card_last_four": method.card_last_four,
        "expiry_date": method.expiry_date,
        "card_type": method.card_type,
    }


def _order_json(order: OrderRecord) -> Json:
    return {
        "id": str(order.id),
        "ordernum": order.ordernum,
        "userid": str(order.client_id),
        "date": order.date.strftime("%Y-%m-%d %H:%M:%S"),
        "amount": _money(order.amount),
        "paymentmethod": order.payment_method,
        "invoiceid": str(order.invoice_id),
        "status": order.status,
        "notes": order.notes,
        "lineitems": {"lineitem": [_line_item_json(service) for service in order.services]},
    }


def _line_item_json(service: ServiceRecord) -> Json:
    return {
        "type": "product",
        "relid": str(service.id),
        "producttype": service.product_type,
        "product": service.product_name,
        "billingcycle": _BILLING_CYCLE_LABELS.get(
            service.billing_cycle, service.billing_cycle.capitalize()
        ),
        "amount": _money(service.amount),
        "status": service.status,
    }


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _php_int(text: str) -> int:
    """PHP's `(int)` cast: the leading integer, or 0."""
    match = _LEADING_INTEGER.match(text)
    return int(match.group(1)) if match else 0


def _php_bool(text: str) -> bool:
    """PHP's truthiness of a request string: only "" and "0" are false ("false" is true)."""
    return text not in ("", "0")
