"""WHMCS activities: payment-method gate, exactly-once order creation, acceptance."""

from __future__ import annotations

from temporalio import activity

from contracts.provisioning import (
    ACCEPT_ORDER,
    CREATE_PAYABLE_ORDER,
    AcceptOrderRequest,
    AddOrderResult,
    CreateOrderRequest,
)
from integrations.errors import BusinessError
from integrations.whmcs.client import OrderNotPendingError, WhmcsClient
from integrations.whmcs.models import AddOrderRequest


class PaymentMethodMissingError(BusinessError):
    """Its class name is the failure type ProvisionOrder recognises (PAYMENT_METHOD_MISSING)."""

    def __init__(self) -> None:
        super().__init__("409", "Payment method missing")


def order_marker(sf_order_id: str) -> str:
    """Written into the WHMCS order's notes; finding it proves the order already exists."""
    return f"sfOrderId={sf_order_id}"


class WhmcsActivities:
    def __init__(self, client: WhmcsClient, payment_method: str) -> None:
        self._client = client
        self._payment_method = payment_method

    @activity.defn(name=CREATE_PAYABLE_ORDER.name)
    async def create_payable_order(self, request: CreateOrderRequest) -> AddOrderResult:
        """The payment-method gate, then AddOrder unless an earlier attempt already committed
        it (then that order is returned). The gate is a read and the create is idempotent, so
        retrying both together is safe.

        An attempt can time out after WHMCS committed the order; the marker in the notes
        lets the next attempt find it instead of adding a second order.
        """
        if not await self._client.get_pay_methods(request.client_id):
            raise PaymentMethodMissingError()
        marker = order_marker(request.sf_order_id)
        existing = await self._client.find_order_by_note(request.client_id, marker)
        if existing is not None:
            activity.logger.info(
                "WHMCS order already exists", extra={"whmcs_order_id": existing.id}
            )
            return AddOrderResult(order_id=existing.id, service_ids=existing.service_ids)
        return await self._client.add_order(
            AddOrderRequest(
                client_id=request.client_id,
                lines=request.lines,
                payment_method=self._payment_method,
                notes=marker,
            )
        )

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
