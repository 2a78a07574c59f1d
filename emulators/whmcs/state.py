"""The WHMCS emulator's in-memory database: clients, pay methods, products, orders.

Every method takes the lock, so the API (event loop thread) and a test seeding state
directly (another thread) never see half an order. Reads return copies.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from emulators.whmcs.records import (
    ClientFields,
    ClientRecord,
    NewClient,
    NewProduct,
    OrderRecord,
    PayMethodFields,
    PayMethodRecord,
    ProductRecord,
    ServiceRecord,
)

RECURRING_CYCLES = ("monthly", "quarterly", "semiannually", "annually", "biennially", "triennially")
"""WHMCS's recurring billing cycles, shortest first."""
DEFAULT_VERSION = "8.13.1"
QTY_SINCE = (8, 12)
"""AddOrder's `qty[]` came with WHMCS 8.12 (8.12 release notes); before, it is ignored."""
PAYMENT_METHODS = frozenset({"mailin", "banktransfer", "stripe", "paypal"})


class WhmcsApiError(Exception):
    """A request WHMCS refuses; `message` is WHMCS's own wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class OrderLineDraft:
    product_id: int
    billing_cycle: str
    quantity: int


@dataclass(frozen=True)
class OrderDraft:
    client_id: int
    lines: list[OrderLineDraft]
    payment_method: str
    notes: str
    create_invoice: bool


@dataclass
class _Tables:
    clients: dict[int, ClientRecord] = field(default_factory=dict)
    products: dict[int, ProductRecord] = field(default_factory=dict)
    orders: dict[int, OrderRecord] = field(default_factory=dict)
    last_ids: Counter[str] = field(default_factory=Counter)

    def allocate_id(self, kind: str, chosen: int | None = None) -> int:
        new_id = chosen if chosen is not None else self.last_ids[kind] + 1
        self.last_ids[kind] = max(self.last_ids[kind], new_id)
        return new_id

    def client(self, client_id: int, *, not_found: str = "Client Not Found") -> ClientRecord:
        if client_id not in self.clients:
            raise WhmcsApiError(not_found)
        return self.clients[client_id]


class WhmcsState:
    """Who may call the API is `emulators.whmcs.access.ApiAccess`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables = _Tables()
        self.version = DEFAULT_VERSION
        self.store_order_notes = True

    def reset(self) -> None:
        with self._lock:
            self._tables = _Tables()
            self.version = DEFAULT_VERSION
            self.store_order_notes = True

    def set_store_order_notes(self, store: bool) -> None:
        """False: AddOrder drops `notes`, as an installation that does not keep them would."""
        with self._lock:
            self.store_order_notes = store

    def set_version(self, version: str) -> None:
        """The WHMCS version to behave as: `qty[]` is read from 8.12 on."""
        with self._lock:
            self.version = version

    @property
    def reads_quantities(self) -> bool:
        major, minor = (int(part) for part in self.version.split(".")[:2])
        return (major, minor) >= QTY_SINCE

    def add_client(self, new_client: NewClient) -> ClientRecord:
        """Create the client, or replace the one with the same chosen id."""
        with self._lock:
            tables = self._tables
            client = ClientRecord(
                **new_client.model_dump(include=set(ClientFields.model_fields)),
                id=tables.allocate_id("client", new_client.id),
                datecreated=date.today(),
                paymethods=[
                    PayMethodRecord(**fields.model_dump(), id=tables.allocate_id("paymethod"))
                    for fields in new_client.paymethods
                ],
            )
            tables.clients[client.id] = client
            return client.model_copy(deep=True)

    def add_pay_method(self, client_id: int, fields: PayMethodFields) -> PayMethodRecord:
        with self._lock:
            client = self._tables.client(client_id)
            pay_method = PayMethodRecord(
                **fields.model_dump(), id=self._tables.allocate_id("paymethod")
            )
            client.paymethods.append(pay_method)
            return pay_method.model_copy()

    def remove_pay_methods(self, client_id: int, pay_method_id: int | None = None) -> None:
        """Remove one pay method of the client, or all of them when no id is given."""
        with self._lock:
            client = self._tables.client(client_id)
            kept = [
                method for method in client.paymethods if pay_method_id not in (None, method.id)
            ]
            if pay_method_id is not None and len(kept) == len(client.paymethods):
                raise WhmcsApiError("Pay Method Not Found")
            client.paymethods = kept

    def add_product(self, new_product: NewProduct) -> ProductRecord:
        """Create the product, or replace the one with the same chosen id."""
        with self._lock:
            product = ProductRecord(
                **new_product.model_dump(exclude={"id"}),
                id=self._tables.allocate_id("product", new_product.id),
            )
            self._tables.products[product.id] = product
            return product.model_copy()

    def clients(self, search: str | None = None) -> list[ClientRecord]:
        """Clients by id; `search` matches name, company or email, case-insensitively."""
        needle = (search or "").lower()
        with self._lock:
            return [
                client.model_copy(deep=True)
                for _, client in sorted(self._tables.clients.items())
                if needle in _searchable_text(client)
            ]

    def pay_methods(self, client_id: int) -> list[PayMethodRecord]:
        with self._lock:
            return [method.model_copy() for method in self._tables.client(client_id).paymethods]

    def orders(
        self,
        *,
        order_id: int | None = None,
        client_id: int | None = None,
        status: str | None = None,
    ) -> list[OrderRecord]:
        """Matching orders, newest (highest id) first, as WHMCS lists them."""
        with self._lock:
            return [
                order.model_copy(deep=True)
                for _, order in sorted(self._tables.orders.items(), reverse=True)
                if order_id in (None, order.id)
                and client_id in (None, order.client_id)
                and status in (None, order.status)
            ]

    def products(self, product_ids: set[int] | None = None) -> list[ProductRecord]:
        """Products by id; `product_ids` None: all of them."""
        with self._lock:
            return [
                product.model_copy(deep=True)
                for _, product in sorted(self._tables.products.items())
                if product_ids is None or product.id in product_ids
            ]

    def add_order(self, draft: OrderDraft) -> OrderRecord:
        """WHMCS leaves out a line whose product does not exist and bills a line in a cycle
        the product has (the shortest priced one) when the one asked for is not: it refuses
        only an order left without lines. Neither is documented for the API ("AddOrder",
        https://developers.whmcs.com/api-reference/addorder/, lists no such errors); the cycle
        fallback is what "Products Management" (https://docs.whmcs.com/Products_Management)
        says of orders placed by an admin."""
        with self._lock:
            tables = self._tables
            tables.client(draft.client_id, not_found="Client ID Not Found")
            lines = [line for line in draft.lines if line.product_id in tables.products]
            _check_order_draft(lines, draft.payment_method)
            services = [service for line in lines for service in _new_services(tables, line)]
            order_id = tables.allocate_id("order")
            order = OrderRecord(
                id=order_id,
                ordernum=f"{7_000_000_000 + order_id * 7919}",
                client_id=draft.client_id,
                date=datetime.now().replace(microsecond=0),
                amount=sum((service.amount for service in services), Decimal("0.00")),
                payment_method=draft.payment_method,
                invoice_id=tables.allocate_id("invoice") if draft.create_invoice else 0,
                status="Pending",
                notes=draft.notes if self.store_order_notes else "",
                services=services,
            )
            tables.orders[order.id] = order
            return order.model_copy(deep=True)

    def accept_order(self, order_id: int) -> None:
        self._settle_pending_order(order_id, "Active")

    def cancel_order(self, order_id: int) -> None:
        self._settle_pending_order(order_id, "Cancelled")

    def _settle_pending_order(self, order_id: int, status: str) -> None:
        """A Pending order and its services take `status`; any other order is refused."""
        with self._lock:
            order = self._tables.orders.get(order_id)
            if order is None or order.status != "Pending":
                raise WhmcsApiError("Order ID not found or Status not Pending")
            order.status = status
            for service in order.services:
                service.status = status


def _searchable_text(client: ClientRecord) -> str:
    parts = (client.firstname, client.lastname, client.companyname, client.email)
    return " ".join(parts).lower()


def _check_order_draft(lines: list[OrderLineDraft], payment_method: str) -> None:
    if not lines:
        raise WhmcsApiError("No items added to cart so order cannot proceed")
    if payment_method not in PAYMENT_METHODS:
        raise WhmcsApiError("Invalid Payment Method")


def billing_cycle_of(product: ProductRecord, asked: str) -> str:
    """The cycle WHMCS bills: the one asked for (any case and punctuation, "Semi-Annually"),
    if the product has it; else the product's shortest priced cycle."""
    if product.pay_type != "recurring":
        return product.pay_type
    cycle = re.sub("[^a-z]", "", asked.lower())
    priced = [known for known in RECURRING_CYCLES if known in product.billing_cycles]
    return cycle if cycle in priced else priced[0]


def _new_services(tables: _Tables, line: OrderLineDraft) -> list[ServiceRecord]:
    """One service of the line's quantity, or one per unit when the product says so."""
    product = tables.products[line.product_id]
    count, quantity = (line.quantity, 1) if product.service_per_unit else (1, line.quantity)
    return [
        ServiceRecord(
            id=tables.allocate_id("service"),
            product_id=product.id,
            product_name=product.name,
            product_type=product.type,
            billing_cycle=billing_cycle_of(product, line.billing_cycle),
            quantity=quantity,
            amount=product.price * quantity,
            status="Pending",
        )
        for _ in range(count)
    ]
