"""`ProvisionOrder`: its input, output, query and handler models, the Salesforce Order as the
validation step reads it, and the activities it calls."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.activity_type import ActivityType
from contracts.durations import Duration


def provision_workflow_id(order_id: str) -> str:
    return f"provision-{order_id}"


class ProvisionStep(StrEnum):
    """The steps in order; names are the seed's log step names."""

    VALIDATION = "validation"
    SF_STATUS_UPDATE = "sf_status_update"
    ORDER_DETAILS = "order_details"
    MAPPING = "mapping"
    PAYMENT_METHOD = "payment_method"
    WHMCS_CREATE = "whmcs_create"
    WHMCS_ACCEPT = "whmcs_accept"
    SF_SUCCESS_UPDATE = "sf_success_update"


class ProvisionPolicy(BaseModel):
    """Retry behaviour: the worker's PROVISION_* settings, read once when an order starts."""

    max_attempts: int = Field(default=3, ge=1)
    retry_initial_interval: Duration = timedelta(seconds=5)
    manual_retry_wait: Duration = timedelta(days=30)
    call_timeout: Duration = timedelta(minutes=1)
    """How long one attempt of one vendor call may take before it is retried (an attempt on
    a killed worker is only noticed after this)."""


class ProvisionOrderInput(BaseModel):
    order_id: str
    idem_key: str | None = None
    event_id: str | None = Field(default=None, description="the Platform Event that started it")


class ProvisionOutcome(StrEnum):
    ACTIVATED = "activated"
    SKIPPED = "skipped"
    FAILED = "failed"
    """Failed, and no retry came before the manual retry wait ran out."""


class StepFailure(BaseModel):
    step: ProvisionStep
    code: str
    message: str


class ProvisionOrderResult(BaseModel):
    order_id: str
    outcome: ProvisionOutcome
    reason: str | None = None
    whmcs_order_id: int | None = None
    service_ids_by_item: dict[str, list[int]] = Field(default_factory=dict)


class ProvisionStatus(BaseModel):
    """What the `status` query answers."""

    order_id: str
    activation_status: str | None = None
    current_step: ProvisionStep | None = None
    runs: int = Field(default=1, description="1 + the manual retries that resumed the order")
    completed_steps: list[ProvisionStep] = Field(default_factory=list)
    whmcs_order_id: int | None = None
    service_ids_by_item: dict[str, list[int]] = Field(default_factory=dict)
    last_error: StepFailure | None = None
    waiting_for_retry: bool = False


ORDER_MEMO = "order"
"""The memo key of a `ProvisionOrder` that holds its `OrderMemo`."""


class OrderMemo(BaseModel):
    """What a list of orders shows beside the search attributes, without querying each order."""

    summary: str
    runs: int = 1
    failure_message: str | None = None


class RetryRequest(BaseModel):
    reason: str | None = None
    event_id: str | None = Field(default=None, description="set when a Platform Event asks")


class RetryAnswer(BaseModel):
    accepted: bool
    message: str


class ActivationStatus(StrEnum):
    """Values of `Order.Activation_Status__c`."""

    ACTIVATING = "Activating"
    ACTIVATED = "Activated"
    FAILED = "Failed"


class _SObject(BaseModel):
    """A Salesforce record, typed with its API field names as aliases."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)


class Product2(_SObject):
    name: str = Field(alias="Name")
    whmcs_product_id: str | None = Field(default=None, alias="WH_Product_ID__c")
    billing_cycle: str | None = Field(default=None, alias="Billing_Cycle__c")

    @field_validator("whmcs_product_id", mode="before")
    @classmethod
    def _number_field_as_text(cls, value: Any) -> Any:
        """A Number(18,0) field arrives as 12.0; WHMCS wants "12"."""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return None if value is None else str(value)


class OrderItem(_SObject):
    id: str = Field(alias="Id")
    quantity: int = Field(alias="Quantity")
    product2_id: str | None = Field(default=None, alias="Product2Id")
    product: Product2 | None = Field(default=None, alias="Product2")
    whmcs_service_id: str | None = Field(default=None, alias="WHMCS_Service_ID__c")

    @field_validator("quantity", mode="before")
    @classmethod
    def _whole_quantity(cls, value: Any) -> Any:
        """Quantity is a double in the API (1.0)."""
        return int(value) if isinstance(value, float) and value.is_integer() else value


class Order(_SObject):
    id: str = Field(alias="Id")
    order_number: str | None = Field(default=None, alias="OrderNumber")
    account_id: str | None = Field(default=None, alias="AccountId")
    activation_status: str | None = Field(default=None, alias="Activation_Status__c")
    activation_error_code: str | None = Field(default=None, alias="Activation_Error_Code__c")
    activation_error_message: str | None = Field(default=None, alias="Activation_Error_Message__c")
    whmcs_order_id: str | None = Field(default=None, alias="WHMCS_Order_ID__c")
    items: list[OrderItem] = Field(default_factory=list, alias="OrderItems")

    @field_validator("items", mode="before")
    @classmethod
    def _subquery_records(cls, value: Any) -> Any:
        """A child subquery arrives as {"totalSize", "done", "records"}, or null when empty."""
        if value is None:
            return []
        return value["records"] if isinstance(value, dict) else value

    @property
    def has_last_error(self) -> bool:
        return self.activation_error_code is not None or self.activation_error_message is not None


class OrderRef(BaseModel):
    order_id: str


class ActivationFailure(BaseModel):
    order_id: str
    error_code: str
    error_message: str


class ActivationSuccess(BaseModel):
    order_id: str
    whmcs_order_id: int
    service_ids_by_item: dict[str, list[int]]


class OrderLine(BaseModel):
    """One product of a WHMCS order."""

    model_config = ConfigDict(extra="ignore")

    product_id: int
    billing_cycle: str
    quantity: int = Field(default=1, ge=1)


class MappedLine(OrderLine):
    order_item_id: str


class OrderMapping(BaseModel):
    whmcs_client_id: int
    lines: list[MappedLine]


def services_by_item(lines: list[MappedLine], service_ids: list[int]) -> dict[str, list[int]]:
    """Each item's WHMCS services: AddOrder makes one per unit, in line order. Raises
    ValueError when their number is not the order's number of units."""
    if len(service_ids) != sum(line.quantity for line in lines):
        raise ValueError(f"{len(service_ids)} services for {len(lines)} items")
    remaining = iter(service_ids)
    by_item: dict[str, list[int]] = {}
    for line in lines:
        by_item.setdefault(line.order_item_id, []).extend(
            next(remaining) for _ in range(line.quantity)
        )
    return by_item


class CreateOrderRequest(BaseModel):
    sf_order_id: str
    client_id: int
    lines: list[OrderLine]


class MapAndCreateRequest(BaseModel):
    sf_order_id: str
    """The journal's key for this order's AddOrder: the id the workflow was started for."""
    order: Order


class CreatedWhmcsOrder(BaseModel):
    whmcs_client_id: int
    """The client the Account mapped to, kept in the step's marker for an operator."""
    order_id: int
    service_ids_by_item: dict[str, list[int]]


class AddOrderResult(BaseModel):
    """The WHMCS order and its services (`relid`s), in line order."""

    model_config = ConfigDict(extra="ignore")

    order_id: int
    service_ids: list[int]
    invoice_id: int | None = None


class AcceptOrderRequest(BaseModel):
    order_id: int


MAPPING_MISSING = "MappingMissingError"
"""The failure type `map_and_create_order` raises when the Account has no WHMCS client mapping
or an item no WHMCS product: a mapping error."""
MAPPING_UNAVAILABLE = "MappingUnavailableError"
"""The failure type `map_and_create_order` raises when `id_mappings` cannot be read."""
PAYMENT_METHOD_MISSING = "PaymentMethodMissingError"
"""The failure type `map_and_create_order` raises when the client has no payment method."""
PRODUCT_NOT_ORDERABLE = "ProductNotOrderableError"
"""The failure type `map_and_create_order` raises, before AddOrder, when WHMCS has no such
product or does not sell it in the mapped billing cycle: a mapping error."""

PROVISIONING_POLICY = ActivityType("provisioning_policy", type(None), ProvisionPolicy)
"""Local: the worker's PROVISION_* settings, recorded in history when the order starts."""
LOAD_ORDER = ActivityType("load_order", OrderRef, Order)
MARK_ORDER_ACTIVATING = ActivityType("mark_order_activating", OrderRef, type(None))
MARK_ORDER_FAILED = ActivityType("mark_order_failed", ActivationFailure, type(None))
MARK_ORDER_ACTIVATED = ActivityType("mark_order_activated", ActivationSuccess, type(None))
MAP_AND_CREATE_ORDER = ActivityType("map_and_create_order", MapAndCreateRequest, CreatedWhmcsOrder)
"""Local: Account -> WHMCS client (`id_mappings`) and items -> products, the products checked
against WHMCS's catalogue, the payment-method gate, then AddOrder (journaled, exactly once)."""
ACCEPT_ORDER = ActivityType("accept_order", AcceptOrderRequest, type(None))
