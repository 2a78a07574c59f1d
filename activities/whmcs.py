"""WHMCS activities: payment-method gate, exactly-once order creation, acceptance."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from integrations.errors import BusinessError
from integrations.whmcs.client import OrderNotPendingError, WhmcsClient
from integrations.whmcs.models import AddOrderRequest, AddOrderResult, OrderLine


class PaymentMethodMissingError(BusinessError):
    def __init__(self) -> None:
        super().__init__("409", "Payment method missing")


def order_marker(sf_order_id: str) -> str:
    """Written into the WHMCS order's notes; finding it proves the order already exists."""
    return f"sfOrderId={sf_order_id}"


class ClientRef(BaseModel):
    client_id: int


class CreateOrderRequest(BaseModel):
    sf_order_id: str
    client_id: int
    lines: list[OrderLine]


class AcceptOrderRequest(BaseModel):
    order_id: int


class WhmcsActivities:
    def __init__(self, client: WhmcsClient, payment_method: str) -> None:
        self._client = client
        self._payment_method = payment_method

    @activity.defn
    async def require_payment_method(self, request: ClientRef) -> None:
        await self._require_payment_method(request.client_id)

    @activity.defn
    async def create_payable_order(self, request: CreateOrderRequest) -> AddOrderResult:
        """The payment-method gate, then `create_order`, in one activity: the gate is a read and
        the create is idempotent, so retrying both together is safe. A type of its own, so that
        a worker from before it fails the task instead of creating without the gate."""
        await self._require_payment_method(request.client_id)
        return await self.create_order(request)

    @activity.defn
    async def create_order(self, request: CreateOrderRequest) -> AddOrderResult:
        """AddOrder, unless an earlier attempt already committed it (then return that one).

        An attempt can time out after WHMCS committed the order; the marker in the notes
        lets the next attempt find it instead of adding a second order.
        """
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

    @activity.defn
    async def accept_order(self, request: AcceptOrderRequest) -> None:
        """AcceptOrder; an order that is already Active counts as accepted."""
        try:
            await self._client.accept_order(request.order_id)
        except OrderNotPendingError:
            page = await self._client.get_orders(order_id=request.order_id)
            if not any(order.status == "Active" for order in page.orders):
                raise
            activity.logger.info("WHMCS order already accepted")

    async def _require_payment_method(self, client_id: int) -> None:
        if not await self._client.get_pay_methods(client_id):
            raise PaymentMethodMissingError()
