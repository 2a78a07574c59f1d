"""WHMCS activities: mapping, product check, payment-method gate, exactly-once order
creation (one activity: a checkpoint between these reads and the create buys nothing, as the
create is idempotent by its journal), and acceptance.

AddOrder takes no idempotency key, so every AddOrder is journaled (PostgreSQL) before it is
sent. An attempt that finds an earlier one `sent` with an unknown outcome (a timeout, a
killed worker) looks for the order the earlier one may have created, by its marker in the
order's notes (WHMCS_ORDER_MARKER=notes, proven on the installation by `portalctl preflight
--with-test-order`), once the earlier request can no longer be running on the WHMCS host
(WHMCS_ORDER_SETTLE_TIME). Without a marker it fails as "outcome unknown" rather than risk a
second order; an operator settles it with `portalctl order resolve`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cachetools import TTLCache
from temporalio import activity

from activities.mapping import map_order
from contracts.provisioning import (
    ACCEPT_ORDER,
    MAP_AND_CREATE_ORDER,
    AcceptOrderRequest,
    AddOrderResult,
    CreatedWhmcsOrder,
    CreateOrderRequest,
    MapAndCreateRequest,
    OrderLine,
    services_by_item,
)
from integrations.config import OrderMarker, WhmcsSettings
from integrations.errors import BusinessError, IntegrationError, TransientError
from integrations.id_mappings import IdMappings
from integrations.operation_journal import CallState
from integrations.whmcs.client import OrderNotPendingError, WhmcsClient
from integrations.whmcs.models import AddOrderRequest, WhmcsProduct
from integrations.whmcs.order_journal import JournalEntry, WhmcsOrderJournal

PRODUCT_CACHE_TTL = timedelta(minutes=5)
"""How long a worker trusts what GetProducts said of a product (a catalogue changes rarely)."""
PRODUCT_CACHE_SIZE = 1024
AMBIGUOUS_ERROR_CODES = frozenset({"ETIMEOUT", "ECONNECTION", "EBADRESPONSE", "500", "502", "504"})
"""An AddOrder that failed with one of these may have created the order on the WHMCS host
(a 429 or 503 answered by the proxy in front of it, and WHMCS's own refusals, did not)."""


class PaymentMethodMissingError(BusinessError):
    """Its class name is the failure type ProvisionOrder recognises (PAYMENT_METHOD_MISSING)."""

    def __init__(self) -> None:
        super().__init__("409", "Payment method missing")


class ProductNotOrderableError(BusinessError):
    """Its class name is the failure type ProvisionOrder reports at `mapping`
    (PRODUCT_NOT_ORDERABLE)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("MAPPING", "WHMCS cannot sell the mapped products: " + "; ".join(problems))


class OutcomeUnknownError(BusinessError):
    def __init__(self, client_id: int, sent_at: datetime) -> None:
        super().__init__(
            "OUTCOME_UNKNOWN",
            f"outcome unknown: check WHMCS orders of client {client_id} since "
            f"{sent_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, then `portalctl order resolve`",
        )


def order_marker(sf_order_id: str) -> str:
    """Written into the WHMCS order's notes; finding it proves the order already exists."""
    return f"sfOrderId={sf_order_id}"


class WhmcsActivities:
    def __init__(
        self,
        client: WhmcsClient,
        journal: WhmcsOrderJournal,
        settings: WhmcsSettings,
        id_mappings: IdMappings,
    ) -> None:
        self._client = client
        self._journal = journal
        self._settings = settings
        self._id_mappings = id_mappings
        self._product_cache: TTLCache[int, WhmcsProduct] = TTLCache(
            maxsize=PRODUCT_CACHE_SIZE, ttl=PRODUCT_CACHE_TTL.total_seconds()
        )

    @activity.defn(name=MAP_AND_CREATE_ORDER.name)
    async def map_and_create_order(self, request: MapAndCreateRequest) -> CreatedWhmcsOrder:
        """The order mapped to a WHMCS client and products, then created and payable; each
        item's WHMCS services."""
        mapping = await map_order(self._id_mappings, request.order)
        created = await self._create_payable_order(
            CreateOrderRequest(
                sf_order_id=request.sf_order_id,
                client_id=mapping.whmcs_client_id,
                lines=list(mapping.lines),
            )
        )
        try:
            services = services_by_item(mapping.lines, created.service_ids)
        except ValueError as mismatch:
            raise BusinessError("WHMCS", f"WHMCS order {created.order_id}: {mismatch}") from None
        return CreatedWhmcsOrder(
            whmcs_client_id=mapping.whmcs_client_id,
            order_id=created.order_id,
            service_ids_by_item=services,
        )

    async def _create_payable_order(self, request: CreateOrderRequest) -> AddOrderResult:
        """The payment-method gate, then AddOrder unless an earlier attempt created the order
        (then that order is returned). The gate is a read, so retrying both is safe."""
        await self._check_products(request.lines)
        if not await self._client.get_pay_methods(request.client_id):
            raise PaymentMethodMissingError()
        earlier = await self._journal.entry(request.sf_order_id)
        if earlier is not None and earlier.state is not CallState.NOT_APPLIED:
            existing = await self._order_of_earlier_attempt(request, earlier)
            if existing is not None:
                return existing
        return await self._add_order(request)

    @activity.defn(name=ACCEPT_ORDER.name)
    async def accept_order(self, request: AcceptOrderRequest) -> None:
        """AcceptOrder; an order that is already Active counts as accepted."""
        try:
            await self._client.accept_order(request.order_id)
        except OrderNotPendingError:
            page = await self._client.get_orders(order_id=request.order_id)
            if not any(order.status == "Active" for order in page.orders):
                raise
            activity.logger.info("WHMCS order already accepted")

    async def _check_products(self, lines: list[OrderLine]) -> None:
        """WHMCS leaves out a line of an unknown product and bills another cycle than one the
        product is not sold in, silently: check the mapping against its catalogue first. A
        refusal is never based on the cache alone (an operator may just have fixed it)."""
        product_ids = {line.product_id for line in lines}
        problems = _catalogue_problems(lines, await self._products(product_ids))
        if problems:
            self._product_cache.clear()
            problems = _catalogue_problems(lines, await self._products(product_ids))
        if problems:
            raise ProductNotOrderableError(problems)

    async def _products(self, product_ids: set[int]) -> dict[int, WhmcsProduct]:
        """Products by id, from GetProducts at most once per PRODUCT_CACHE_TTL each."""
        missing = product_ids - set(self._product_cache)
        if missing:
            for product in await self._client.get_products(missing):
                self._product_cache[product.id] = product
        return {pid: self._product_cache[pid] for pid in product_ids if pid in self._product_cache}

    async def _order_of_earlier_attempt(
        self, request: CreateOrderRequest, earlier: JournalEntry
    ) -> AddOrderResult | None:
        """The order an earlier AddOrder created; None when it created none; raises while that
        cannot be known yet, or ever."""
        if earlier.whmcs_order_id is not None:
            return await self._known_order(earlier.whmcs_order_id)
        if self._settings.order_marker is OrderMarker.NONE:
            raise OutcomeUnknownError(earlier.client_id, earlier.sent_at)
        marker = order_marker(request.sf_order_id)
        found = await self._client.find_order_by_note(earlier.client_id, marker)
        if found is not None:
            activity.logger.info("WHMCS order already exists", extra={"whmcs_order_id": found.id})
            await self._journal.done(request.sf_order_id, found.id)
            return AddOrderResult(order_id=found.id, service_ids=found.service_ids)
        unsettled = earlier.sent_at + self._settings.order_settle_time - datetime.now(UTC)
        if unsettled.total_seconds() > 0:
            raise TransientError(
                "EPENDING",
                "an earlier AddOrder may still be running on the WHMCS host; looking again",
                retry_after=unsettled.total_seconds(),
            )
        return None

    async def _known_order(self, whmcs_order_id: int) -> AddOrderResult:
        page = await self._client.get_orders(order_id=whmcs_order_id)
        if not page.orders:
            raise BusinessError("WHMCS", f"WHMCS order {whmcs_order_id} does not exist")
        order = page.orders[0]
        return AddOrderResult(order_id=order.id, service_ids=order.service_ids)

    async def _add_order(self, request: CreateOrderRequest) -> AddOrderResult:
        marker = self._settings.order_marker is OrderMarker.NOTES
        await self._journal.sent(request.sf_order_id, request.client_id)
        try:
            created = await self._client.add_order(
                AddOrderRequest(
                    client_id=request.client_id,
                    lines=request.lines,
                    payment_method=self._settings.payment_method,
                    notes=order_marker(request.sf_order_id) if marker else None,
                )
            )
        except IntegrationError as error:
            if error.code not in AMBIGUOUS_ERROR_CODES:
                await self._journal.not_applied(request.sf_order_id)
            raise
        await self._journal.done(request.sf_order_id, created.order_id)
        return created


def _catalogue_problems(lines: list[OrderLine], products: dict[int, WhmcsProduct]) -> list[str]:
    problems = []
    for line in lines:
        product = products.get(line.product_id)
        cycle = line.billing_cycle.lower()
        if product is None:
            problems.append(f"product {line.product_id} does not exist")
        elif cycle not in product.billing_cycles:
            sold = ", ".join(sorted(product.billing_cycles)) or "none"
            problems.append(
                f"product {product.id} ({product.name}) is not sold {cycle} (only: {sold})"
            )
    return problems
